"""Does the donor's look decide the donor fill's removal? The shipped model's tumours removed with tissue of healthy
validation brains of the tumours' own look (square images, as every boxed tumour is) against tissue of healthy brains
of the other collections' look (not square): a fill from a brain of another collection is what the private held-out
set used; the validation side's donor fill draws from both looks.

    python -m research.unseen_removal.donor_look --out runs/unseen-removal

Writes ``donor-look.json``: per donor look, over all and by class, the share of removals answered "notumor" (with its
n and bootstrap 95 % interval) and of controls that changed the answer (``diagnose.share_rows``); both parts of the
validation side together: no choice is made on these numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from mlcore import artifact
from mlcore.artifact import DEFAULT_MODEL
from research.unseen_removal.diagnose import BOXES, SPLIT, share_rows
from training.data.dataset import SHARED_TRAINING
from training.evaluation.counterfactual_eval import counterfactual_rows, donor_files
from training.evaluation.explain_eval import load_cases
from training.fit.counterfactual import NO_TUMOUR

log = logging.getLogger("donor_look")


def is_square(path: Path) -> bool:
    """The image file is square (the look of every boxed tumour of this dataset copy)."""
    with Image.open(path) as image:
        return image.size[0] == image.size[1]


def donor_look(model: Path, data_root: Path) -> dict[str, Any]:
    """The donor fill's removal with donors of each look (the same tumours, the same seed)."""
    cases = [case for case in load_cases(data_root, BOXES, SPLIT, per_class=None, seed=0) if case.label != NO_TUMOUR]
    donors = donor_files(data_root, SPLIT)
    looks = {"square": [d for d in donors if is_square(d)], "not square": [d for d in donors if not is_square(d)]}
    result: dict[str, Any] = {"model": artifact.load(model).identity, "donors": {k: len(v) for k, v in looks.items()}}
    for look, pool in looks.items():
        rows = [r for r in counterfactual_rows(model, cases, pool, show_progress=False) if r["method"] == "donor"]
        result[look] = {"all": share_rows(rows, ())[0], "by_class": share_rows(rows, ("label",))}
        log.info("donors %s (%d): %s", look, len(pool), result[look])
    return result


def main(argv: list[str] | None = None) -> int:
    """Run both donor looks and write ``donor-look.json`` under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=SHARED_TRAINING)
    parser.add_argument("--out", type=Path, default=Path("runs/unseen-removal"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = donor_look(args.model, args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "donor-look.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
