"""Troubleshooting questions for causes no sensor sees."""

from __future__ import annotations

import json
import subprocess

import pytest

from host_tools.troubleshoot import MissingAnswer, walk

from .conftest import posdiag_cmd


@pytest.mark.parametrize(
    "answers,cause",
    [
        ({"blank": True, "roll_change": True}, "paper-loaded-backwards"),
        ({"blank": True, "roll_change": False}, "paper-loaded-backwards"),
        ({"blank": False, "garbled": True, "updated": True}, "software-mismatch"),
        ({"blank": False, "garbled": True, "updated": False}, "link-garbled"),
        ({"blank": False, "garbled": False, "long_only": True, "pale": True}, "power-unstable"),
        ({"blank": False, "garbled": False, "long_only": True, "pale": False}, "head-overheat"),
        ({"blank": False, "garbled": False, "long_only": False, "pale": True}, "power-unstable"),
        ({"blank": False, "garbled": False, "long_only": False, "pale": False}, None),
    ],
)
def test_every_path(answers: dict, cause: str | None) -> None:
    assert walk(dict(answers))[0] == cause


def test_a_missing_answer_names_its_question() -> None:
    with pytest.raises(MissingAnswer) as e:
        walk({"blank": False})
    assert e.value.key == "garbled"


def test_scriptable_command() -> None:
    run = subprocess.run(
        posdiag_cmd("troubleshoot", "--answer", "blank=yes", "--answer", "roll_change=yes", "--json"),
        capture_output=True,
        text=True,
    )
    out = json.loads(run.stdout)
    assert out["causes"][0]["id"] == "paper-loaded-backwards" and out["causes"][0]["steps"]
    assert out["answers"] == {"blank": True, "roll_change": True}
    zh = subprocess.run(
        posdiag_cmd(
            "troubleshoot", "--answer", "blank=no", "--answer", "garbled=yes", "--answer", "updated=no", "--lang", "zh"
        ),
        capture_output=True,
        text=True,
    )
    assert "link-garbled" in zh.stdout and "波特率" in zh.stdout


def test_missing_answer_without_a_terminal_is_one_line() -> None:
    run = subprocess.run(
        posdiag_cmd("troubleshoot", "--answer", "blank=no"), capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert run.returncode == 2 and "garbled" in run.stderr and run.stderr.count("\n") == 1


def test_bad_answer_is_one_line() -> None:
    run = subprocess.run(posdiag_cmd("troubleshoot", "--answer", "blank=maybe"), capture_output=True, text=True)
    assert run.returncode == 2 and "yes or no" in run.stderr and "Traceback" not in run.stderr
