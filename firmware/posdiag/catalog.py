# The one table of check ids, fault flags and causes, shared by the firmware and
# the host tool (host_tools imports this module). Integer codes are stable: they
# are stored in records on flash, so entries are only ever appended.

# Categories: the five causes of the merchant article posdiag started from.
CATEGORIES = ("device", "operator", "network", "consumables", "policy")
DEVICE = 0
OPERATOR = 1
NETWORK = 2
CONSUMABLES = 3
POLICY = 4

# Severity: a fault stops the receipt; a warning does not (yet).
FAULT = 0
WARNING = 1
SEVERITIES = ("fault", "warning")

# Checks, in the order of the positional checks array of a record.
CHECK_PRINTER = 0
CHECK_PAPER = 1
CHECK_HOST = 2
CHECK_HEAD = 3
CHECK_POWER = 4
CHECK_NAMES = ("printer", "paper", "host", "head", "power")

# Printer check flags: what DLE EOT 1-4 replies (or their absence) said.
P_NO_REPLY = 0x001
P_GARBLED = 0x002
P_OFFLINE = 0x004
P_COVER = 0x008
P_PAPER_END = 0x010
P_NEAR_END = 0x020
P_CUTTER = 0x040
P_UNRECOVERABLE = 0x080
P_AUTO_RECOVER = 0x100
P_FEED = 0x200
P_WAIT_RECOVERY = 0x400
P_MECHANICAL = 0x800
P_UNSUPPORTED = 0x1000   # model name (GS I 67) not in the supported list
P_PARTIAL = 0x2000       # answered some status queries, then not the rest
PRINTER_FLAGS = ("no-reply", "garbled", "offline", "cover-open", "paper-end",
                 "near-end", "cutter-error", "unrecoverable-error",
                 "auto-recoverable-error", "feed-button", "waiting-recovery",
                 "mechanical-error", "unsupported-printer", "partial-reply")

# Printer baud rates, as the printer check stores them: the index into this
# tuple is a record's baud-found (printer.scan_baud tries them in this order).
BAUD_RATES = (9600, 19200, 38400, 57600, 115200)

# Paper check flags: the terminal's own sensor inputs, cross-checked with the
# printer's paper bits.
S_PAPER_END = 0x1
S_NEAR_END = 0x2
S_COVER = 0x4
S_DISAGREE = 0x8         # terminal sensor and printer differ on paper end
PAPER_FLAGS = ("paper-end", "near-end", "cover-open", "disagrees-with-printer")

# Host check flags: reaching the settlement host.
H_DNS = 0x1
H_REFUSED = 0x2
H_TIMEOUT = 0x4
H_SLOW = 0x8             # connect or echo slower than the limit
H_REJECTS = 0x10         # connected, but the echo came back wrong or not at all
H_ECHO_TIMEOUT = 0x20    # connected, echo not answered in time
H_UNRESOLVED = 0x40      # host name not resolved yet: not tried (no verdict)
HOST_FLAGS = ("dns-failed", "refused", "timeout", "slow", "rejects",
              "echo-timeout", "not-resolved-yet")

# Print head check flags: the head thermistor.
T_OVERHEAT = 0x1
T_OPEN = 0x2             # reading at the top rail: thermistor or its wire open
T_SHORT = 0x4            # reading at the bottom rail: shorted
HEAD_FLAGS = ("overheat", "thermistor-open", "thermistor-short")

# Power check flags: supply voltage samples and the reset cause.
V_LOW = 0x1
V_HIGH = 0x2
V_UNSTABLE = 0x4         # spread between samples above the limit
V_BROWNOUT = 0x8         # the board last reset on a brownout
V_WATCHDOG = 0x10        # the board last reset on its watchdog
POWER_FLAGS = ("low", "high", "unstable", "brownout-reset", "watchdog-reset")

FLAG_NAMES = (PRINTER_FLAGS, PAPER_FLAGS, HOST_FLAGS, HEAD_FLAGS, POWER_FLAGS)

# Flags that warn (receipts still print), per check; every other flag is a fault.
WARNING_FLAGS = (P_NEAR_END | P_PARTIAL, S_NEAR_END | S_DISAGREE,
                 H_SLOW | H_ECHO_TIMEOUT | H_UNRESOLVED, 0, V_WATCHDOG)

# Exception classes a self-test that failed inside records (record key 9),
# by code: MicroPython's built-in classes. An exception is recorded as the
# most specific of these it is an instance of (a driver's own class as its
# built-in base), so the record stays small. Stored: only ever appended.
ERRORS = ("Exception", "OSError", "ValueError", "TypeError", "IndexError",
          "KeyError", "AttributeError", "ZeroDivisionError", "MemoryError",
          "RuntimeError", "NotImplementedError", "OverflowError",
          "UnicodeError", "AssertionError", "EOFError", "ImportError",
          "NameError", "StopIteration", "LookupError", "ArithmeticError",
          "SyntaxError", "KeyboardInterrupt", "SystemExit")

# Reset causes the board reports (hal: reset_cause()).
RESET_POWER_ON = 0
RESET_BROWNOUT = 1
RESET_WATCHDOG = 2
RESET_SOFT = 3
RESET_OTHER = 4

# Causes: (id, category, severity, merchant hint zh-CN, merchant hint en).
# Each hint is two lines that fit a 16-column display, a CJK character taking
# two columns (tests/test_catalog.py measures every one).
CAUSES = (
    ("paper-out", CONSUMABLES, FAULT,
     "打印纸用完\n请装入新纸卷", "Out of paper\nLoad a new roll"),
    ("paper-near-end", CONSUMABLES, WARNING,
     "打印纸快用完\n请备好新纸卷", "Paper low\nPrepare new roll"),
    ("paper-loaded-backwards", OPERATOR, FAULT,
     "纸卷可能装反\n热敏面朝打印头", "Blank receipt?\nFlip paper roll"),
    ("cover-open", OPERATOR, FAULT,
     "打印机盖未合上\n请按下直到卡紧", "Cover is open\nPress it shut"),
    ("cutter-jam", DEVICE, FAULT,
     "切刀卡纸\n打开清除碎纸", "Cutter jammed\nClear paper bits"),
    ("head-overheat", DEVICE, FAULT,
     "打印头过热\n请稍候再打印", "Print head hot\nWait, then retry"),
    ("head-fault", DEVICE, FAULT,
     "打印头故障\n请联系维修", "Print head fault\nCall service"),
    ("power-unstable", DEVICE, FAULT,
     "电源电压不稳\n用原装适配器", "Power unstable\nUse orig adapter"),
    ("printer-no-response", DEVICE, FAULT,
     "打印机无响应\n检查电源和数据线", "No printer reply\nReseat the cable"),
    ("link-garbled", OPERATOR, FAULT,
     "打印机通讯错误\n检查波特率设置", "Printer link bad\nCheck baud rate"),
    ("link-intermittent", DEVICE, WARNING,
     "打印机时断时续\n检查数据线接头", "Printer flaky\nCheck cable ends"),
    ("printer-busy-offline", OPERATOR, FAULT,
     "打印机暂停中\n松开走纸键稍候", "Printer offline\nRelease FEED key"),
    ("host-unreachable", NETWORK, FAULT,
     "无法连接结算主机\n请检查网络", "Host unreachable\nCheck network"),
    ("host-slow", NETWORK, WARNING,
     "网络缓慢\n检查信号和网线", "Network slow\nCheck signal/LAN"),
    ("host-rejects", NETWORK, FAULT,
     "主机拒绝请求\n检查主机参数", "Host refused\nCheck host setup"),
    ("software-mismatch", OPERATOR, FAULT,
     "软件版本不匹配\n请更新软件", "Version mismatch\nUpdate software"),
    ("receipt-policy", POLICY, WARNING,
     "按规定不打印纸质\n可发电子小票", "No paper receipt\nOffer e-receipt"),
    ("internal-error", DEVICE, FAULT,
     "自检失败\n请联系维修", "Self-test failed\nCall service"),
)

PAPER_OUT = 0
PAPER_NEAR_END = 1
PAPER_LOADED_BACKWARDS = 2
COVER_OPEN = 3
CUTTER_JAM = 4
HEAD_OVERHEAT = 5
HEAD_FAULT = 6
POWER_UNSTABLE = 7
PRINTER_NO_RESPONSE = 8
LINK_GARBLED = 9
LINK_INTERMITTENT = 10
PRINTER_BUSY_OFFLINE = 11
HOST_UNREACHABLE = 12
HOST_SLOW = 13
HOST_REJECTS = 14
SOFTWARE_MISMATCH = 15
RECEIPT_POLICY = 16
INTERNAL_ERROR = 17   # the self-test itself failed (record key 9 says where)

# Root-cause order: when several causes show at once, the earlier one explains
# the later ones (no power explains no reply; a dead cable explains everything
# the printer cannot say; a cover left open explains paper-end bits). Printer
# causes come before network ones because a dead settlement host never makes
# the printer faulty, and warnings come last.
# A self-test that failed inside comes first: what it did not see is unknown.
RANK = (
    INTERNAL_ERROR, POWER_UNSTABLE, PRINTER_NO_RESPONSE, LINK_GARBLED, HEAD_FAULT,
    HEAD_OVERHEAT, CUTTER_JAM, COVER_OPEN, PAPER_OUT, PRINTER_BUSY_OFFLINE,
    PAPER_LOADED_BACKWARDS, SOFTWARE_MISMATCH, HOST_UNREACHABLE, HOST_REJECTS,
    PAPER_NEAR_END, HOST_SLOW, LINK_INTERMITTENT, RECEIPT_POLICY,
)

LANGS = ("zh", "en")


def cause_id(code):
    return CAUSES[code][0]


def cause_code(ident):
    for code in range(len(CAUSES)):
        if CAUSES[code][0] == ident:
            return code
    raise ValueError("unknown cause id: " + ident)


# Shown after a failed print, beside a QR code with the e-receipt.
E_RECEIPT_HINT = ("可提供电子小票\n请顾客扫码", "E-receipt ready\nScan the QR code")

# Shown when every check passed.
HEALTHY_HINT = ("自检通过\n打印机就绪", "Self-test passed\nPrinter ready")


def hint(code, lang):
    """The merchant's two-line hint for a cause code (None: all healthy), in
    'zh' or 'en'."""
    en = lang == "en"
    if code is None:
        return HEALTHY_HINT[1 if en else 0]
    return CAUSES[code][4 if en else 3]
