"""`posdiag troubleshoot`: causes no sensor can see, narrowed down by a few
yes/no questions a merchant can answer (blank receipt? garbled text? right
after a roll change? only long receipts?)."""

from __future__ import annotations

from collections.abc import Callable

QUESTIONS: dict[str, dict[str, str]] = {
    "blank": {"en": "Does the receipt come out blank?", "zh": "小票能出纸，但是空白的吗？"},
    "roll_change": {"en": "Did it start right after a roll change?", "zh": "是否在刚换纸卷后开始？"},
    "garbled": {"en": "Are the characters garbled (random symbols)?", "zh": "打印出来的是乱码吗？"},
    "updated": {
        "en": "Was the terminal software, its settings or the printer changed recently?",
        "zh": "最近是否更新过终端软件、改过设置或换过打印机？",
    },
    "long_only": {"en": "Do only long receipts fail?", "zh": "是否只有长小票出问题？"},
    "pale": {"en": "Is the print pale or faded?", "zh": "打印字迹发淡吗？"},
}

# A tree: ("ask", question, if yes, if no) or ("cause", id, why-en, why-zh).
Node = tuple
TREE: Node = (
    "ask",
    "blank",
    (
        "ask",
        "roll_change",
        (
            "cause",
            "paper-loaded-backwards",
            "Blank right after a roll change: the roll is in the wrong way round.",
            "换纸后出白纸：纸卷装反了。",
        ),
        (
            "cause",
            "paper-loaded-backwards",
            "Blank receipts with a healthy printer: the roll is the wrong way round "
            "or not thermal paper (scratch it with a fingernail: thermal paper darkens).",
            "打印机正常却出白纸：纸卷装反，或不是热敏纸（用指甲划一下，热敏纸会变黑）。",
        ),
    ),
    (
        "ask",
        "garbled",
        (
            "ask",
            "updated",
            (
                "cause",
                "software-mismatch",
                "Garbled text after a change: the software or printer speaks another command set or code page.",
                "变更后出现乱码：软件与打印机的指令集或字符集不匹配。",
            ),
            (
                "cause",
                "link-garbled",
                "Garbled text with nothing changed: the line settings (baud rate, parity) "
                "differ between terminal and printer.",
                "未做变更却乱码：终端与打印机的串口参数（波特率、校验）不一致。",
            ),
        ),
        (
            "ask",
            "long_only",
            (
                "ask",
                "pale",
                (
                    "cause",
                    "power-unstable",
                    "Long receipts fade: the supply sags under the head's load.",
                    "长小票变淡：打印负载下电源电压下降。",
                ),
                (
                    "cause",
                    "head-overheat",
                    "Long receipts stop: the head heats up and the printer pauses.",
                    "长小票中途停止：打印头过热，打印机暂停。",
                ),
            ),
            (
                "ask",
                "pale",
                (
                    "cause",
                    "power-unstable",
                    "Pale print with a healthy status: a weak or wrong power adapter.",
                    "状态正常但字迹发淡：电源适配器不足或不匹配。",
                ),
                (
                    "none",
                    "",
                    "No cause from these answers: run `posdiag diagnose` for the terminal's own readings.",
                    "根据回答无法判断：请运行 posdiag diagnose 查看终端读数。",
                ),
            ),
        ),
    ),
)


class MissingAnswer(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def walk(answers: dict[str, bool], ask: Callable[[str], bool] | None = None) -> tuple[str | None, dict[str, str], list]:
    """Follow the tree with the answers given (asking the rest with ask, or
    raising MissingAnswer): (cause id or None, why in en/zh, path taken)."""
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
    return cause, {"en": node[2], "zh": node[3]}, path


def parse_answer(text: str) -> tuple[str, bool]:
    key, sep, value = text.partition("=")
    if not sep or key not in QUESTIONS:
        raise ValueError(f"--answer wants KEY=yes|no with KEY one of {', '.join(QUESTIONS)}; not {text!r}")
    value = value.strip().lower()
    if value not in ("yes", "no", "y", "n", "true", "false", "1", "0"):
        raise ValueError(f"--answer {key} wants yes or no, not {value!r}")
    return key, value in ("yes", "y", "true", "1")
