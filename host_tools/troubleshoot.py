"""`posdiag troubleshoot`: causes no sensor can see, narrowed down by a few
yes/no questions a merchant can answer (blank receipt? garbled text? right
after a roll change? only long receipts?)."""

from __future__ import annotations

from collections.abc import Callable

from host_tools import texts

# A tree: ("ask", question key, if yes, if no) or ("cause", cause id, why key),
# ("none", "", why key) when the answers point at nothing. The questions and
# the why are texts (host_tools/lang: "question", "why").
Node = tuple
TREE: Node = (
    "ask",
    "blank",
    (
        "ask",
        "roll_change",
        ("cause", "paper-loaded-backwards", "blank-after-roll-change"),
        ("cause", "paper-loaded-backwards", "blank"),
    ),
    (
        "ask",
        "garbled",
        (
            "ask",
            "updated",
            ("cause", "software-mismatch", "garbled-after-change"),
            ("cause", "link-garbled", "garbled"),
        ),
        (
            "ask",
            "long_only",
            (
                "ask",
                "pale",
                ("cause", "power-unstable", "long-pale"),
                ("cause", "head-overheat", "long-stops"),
            ),
            (
                "ask",
                "pale",
                ("cause", "power-unstable", "pale"),
                ("none", "", "none"),
            ),
        ),
    ),
)


def _keys(node: Node) -> list[str]:
    return [node[1], *_keys(node[2]), *_keys(node[3])] if node[0] == "ask" else []


# The question keys, in the order the tree asks them.
QUESTIONS: tuple[str, ...] = tuple(dict.fromkeys(_keys(TREE)))


def question(key: str, lang: str) -> str:
    return texts.text("question", key, lang)


class MissingAnswer(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def walk(answers: dict[str, bool], ask: Callable[[str], bool] | None = None) -> tuple[str | None, dict[str, str], list]:
    """Follow the tree with the answers given (asking the rest with ask, or
    raising MissingAnswer): (cause id or None, why in each language, path taken)."""
    node = TREE
    path = []
    while node[0] == "ask":
        key = node[1]
        if key not in answers:
            if ask is None:
                raise MissingAnswer(key)
            answers[key] = ask(key)
        path.append((key, answers[key]))
        node = node[2] if answers[key] else node[3]
    cause = node[1] or None
    return cause, {lang: texts.text("why", node[2], lang) for lang in texts.languages()}, path


YES = ("yes", "y", "true", "1", "是", "对")
NO = ("no", "n", "false", "0", "否", "不", "不是")


def reply(text: str) -> bool | None:
    """A typed answer: True (yes), False (no), or None when it is neither
    (the question is asked again, never taken as "no")."""
    text = text.strip().lower()
    return True if text in YES else False if text in NO else None


def parse_answer(text: str) -> tuple[str, bool]:
    key, sep, value = text.partition("=")
    if not sep or key not in QUESTIONS:
        raise ValueError(f"--answer wants KEY=yes|no with KEY one of {', '.join(QUESTIONS)}; not {text!r}")
    answer = reply(value)
    if answer is None:
        raise ValueError(f"--answer {key} wants yes or no, not {value.strip()!r}")
    return key, answer


def result(answers: dict[str, bool], ask: Callable[[str], bool] | None, lang: str) -> dict:
    """What `posdiag troubleshoot` reports (docs/json-output.md): the
    answers, why in lang, and the cause found as a diagnosis's cause entry
    (no evidence: no sensor saw it). MissingAnswer as walk()."""
    from host_tools.catalog_names import cause_code
    from host_tools.diagnosis import cause_entry

    cause, why, _ = walk(answers, ask)
    causes = [dict(cause_entry(cause_code(cause), lang), evidence=[])] if cause else []
    return {"answers": answers, "why": why[lang], "causes": causes}
