"""The evidence check's refit: verdicts at any pair from one measurement, and the declared choice rule."""

from __future__ import annotations

from typing import Any

from research.evidence_refit.refit import PREVIOUS, choose, pair_shares, verdicts


def _row(before: float, after: float, control: float, box: float) -> dict[str, Any]:
    level = {"after": after, "answer_changed": False, "control_after": control, "control_answer_changed": False}
    return {
        "label": "glioma",
        "before": before,
        "box_after": box,
        "box_answer_changed": False,
        "levels": {"0.6": level},
    }


def test_the_margin_decides_what_a_fall_of_the_probability_means() -> None:
    row = _row(before=0.9, after=0.5, control=0.85, box=0.3)  # the region's removal costs 0.4, the box's 0.6
    assert verdicts(row, 0.6, 0.25) == (True, False, True)  # both "depends": they agree
    assert verdicts(row, 0.6, 0.5) == (False, False, True)  # the region's fall is under the margin: they disagree
    assert verdicts(row, 0.7, 0.25) is None  # no region measured at that level


def test_shares_carry_their_n_and_interval() -> None:
    rows = [_row(0.9, 0.5, 0.85, 0.3), _row(0.9, 0.85, 0.85, 0.3)]
    shares = pair_shares(rows, 0.6, 0.25)
    assert shares["n"] == 2 and shares["agrees_with_box"]["share"] == 0.5
    low, high = shares["agrees_with_box"]["ci95"]
    assert low <= 0.5 <= high


def _entry(level: float, margin: float, agrees: float, control: float) -> dict[str, Any]:
    return {
        "level": level,
        "margin": margin,
        "agrees_with_box": {"share": agrees},
        "control_depends": {"share": control},
    }


def test_the_choice_skips_pairs_whose_control_says_depends_too_often_and_ties_go_to_the_previous_pair() -> None:
    table = [
        _entry(0.5, 0.25, 0.95, 0.08),  # best agreement, but its control cries wolf
        _entry(0.6, 0.25, 0.90, 0.04),
        _entry(*PREVIOUS, 0.90, 0.03),
    ]
    chosen = choose(table)
    assert (chosen["level"], chosen["margin"]) == PREVIOUS
    chosen = choose(table[:2])
    assert (chosen["level"], chosen["margin"]) == (0.6, 0.25)
