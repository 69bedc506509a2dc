"""What every brainxai process does first (service/process.py): --help alone on the command line, malloc arenas
capped unless the operator chose, bad settings named with their variable."""

from __future__ import annotations

import pytest

from service.process import command_line, limit_malloc_arenas, read_settings


def test_malloc_arenas_are_capped_unless_the_operator_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True  # glibc accepted M_ARENA_MAX (this machine is glibc-based)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


def test_the_command_line_takes_help_alone(capsys: pytest.CaptureFixture[str]) -> None:
    command_line("python -m service", "The service.", [])  # no argument: nothing to say, the start goes on
    with pytest.raises(SystemExit) as helped:
        command_line("python -m service", "The service.", ["--help"])
    assert helped.value.code == 0 and "BRAINXAI_*" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        command_line("python -m service", "The service.", ["--port", "9000"])  # a setting is not an argument
    assert refused.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_bad_settings_are_logged_with_their_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BRAINXAI_PORT", "not-a-port")
    assert read_settings() is None
    assert "BRAINXAI_PORT" in caplog.text
