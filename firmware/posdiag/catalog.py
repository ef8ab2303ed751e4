# The one table of check ids, fault flags and causes, shared by the firmware and
# the host tool (host_tools imports this module). Integer codes are stable: they
# are stored in records on flash, so entries are only ever appended.
# Only what the terminal needs is here: the codes, the tables that rank them
# and the merchant's hints. Their names (cause ids with category and severity,
# check and flag names, warning flags, exception names) are the host's, keyed
# by these constants: host_tools/catalog_names.py. A firmware module that uses
# a few codes may fold private const() copies of them (_P_GARBLED for
# P_GARBLED); tests/test_catalog.py checks every copy against this table.

# Checks, in the order of the positional checks array of a record.
CHECK_PRINTER = 0
CHECK_PAPER = 1
CHECK_HOST = 2
CHECK_HEAD = 3
CHECK_POWER = 4

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

# Printer baud rates, as the printer check stores them: the index into this
# tuple is a record's baud-found (printer.scan_baud tries them in this order).
BAUD_RATES = (9600, 19200, 38400, 57600, 115200)

# Paper check flags: the terminal's own sensor inputs, cross-checked with the
# printer's paper bits.
S_PAPER_END = 0x1
S_NEAR_END = 0x2
S_COVER = 0x4
S_DISAGREE = 0x8         # terminal sensor and printer differ on paper end

# Host check flags: reaching the settlement host.
H_DNS = 0x1
H_REFUSED = 0x2
H_TIMEOUT = 0x4
H_SLOW = 0x8             # connect or echo slower than the limit
H_REJECTS = 0x10         # connected, but the echo came back wrong or not at all
H_ECHO_TIMEOUT = 0x20    # connected, echo not answered in time
H_UNRESOLVED = 0x40      # host name not resolved yet: not tried (no verdict)

# Print head check flags: the head thermistor.
T_OVERHEAT = 0x1
T_OPEN = 0x2             # reading at the top rail: thermistor or its wire open
T_SHORT = 0x4            # reading at the bottom rail: shorted

# Power check flags: supply voltage samples and the reset cause.
V_LOW = 0x1
V_HIGH = 0x2
V_UNSTABLE = 0x4         # spread between samples above the limit
V_BROWNOUT = 0x8         # the board last reset on a brownout
V_WATCHDOG = 0x10        # the board last reset on its watchdog

# Exception classes a self-test that failed inside records (record key 9),
# by code: MicroPython's built-in classes. An exception is recorded as the
# most specific of these it is an instance of (a driver's own class as its
# built-in base), so the record stays small. Stored: only ever appended.
# The classes themselves, not their names: the host names them
# (catalog_names.ERRORS). A port built without unicode strings has no
# UnicodeError: its place stays, matching nothing.
try:
    _UNICODE_ERROR = UnicodeError
except NameError:
    _UNICODE_ERROR = ()  # type: ignore[assignment,misc]
ERROR_CLASSES = (Exception, OSError, ValueError, TypeError, IndexError,
                 KeyError, AttributeError, ZeroDivisionError, MemoryError,
                 RuntimeError, NotImplementedError, OverflowError,
                 _UNICODE_ERROR, AssertionError, EOFError, ImportError,
                 NameError, StopIteration, LookupError, ArithmeticError,
                 SyntaxError, KeyboardInterrupt, SystemExit)

# Reset causes the board reports (hal: reset_cause()).
RESET_POWER_ON = 0
RESET_BROWNOUT = 1
RESET_WATCHDOG = 2
RESET_SOFT = 3
RESET_OTHER = 4

# Causes, by code (the host's cause ids: catalog_names.CAUSES).
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

# The merchant's hint for each cause, by code: zh-CN at 2 * code, en after it.
# Each hint is two lines that fit a 16-column display, a CJK character taking
# two columns (tests/test_catalog.py measures every one).
HINTS = (
    "打印纸用完\n请装入新纸卷", "Out of paper\nLoad a new roll",
    "打印纸快用完\n请备好新纸卷", "Paper low\nPrepare new roll",
    "纸卷可能装反\n热敏面朝打印头", "Blank receipt?\nFlip paper roll",
    "打印机盖未合上\n请按下直到卡紧", "Cover is open\nPress it shut",
    "切刀卡纸\n打开清除碎纸", "Cutter jammed\nClear paper bits",
    "打印头过热\n请稍候再打印", "Print head hot\nWait, then retry",
    "打印头故障\n请联系维修", "Print head fault\nCall service",
    "电源电压不稳\n用原装适配器", "Power unstable\nUse orig adapter",
    "打印机无响应\n检查电源和数据线", "No printer reply\nReseat the cable",
    "打印机通讯错误\n检查波特率设置", "Printer link bad\nCheck baud rate",
    "打印机时断时续\n检查数据线接头", "Printer flaky\nCheck cable ends",
    "打印机暂停中\n松开走纸键稍候", "Printer offline\nRelease FEED key",
    "无法连接结算主机\n请检查网络", "Host unreachable\nCheck network",
    "网络缓慢\n检查信号和网线", "Network slow\nCheck signal/LAN",
    "主机拒绝请求\n检查主机参数", "Host refused\nCheck host setup",
    "软件版本不匹配\n请更新软件", "Version mismatch\nUpdate software",
    "按规定不打印纸质\n可发电子小票", "No paper receipt\nOffer e-receipt",
    "自检失败\n请联系维修", "Self-test failed\nCall service",
)

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

# Signals: (check, flag mask, cause): a check result with any bit of the mask
# set points at the cause. rank.causes applies them, then the rules that make
# one cause explain another (docs/diagnosis.md).
SIGNALS = (
    (CHECK_POWER, V_LOW | V_HIGH | V_UNSTABLE | V_BROWNOUT, POWER_UNSTABLE),
    (CHECK_PRINTER, P_NO_REPLY, PRINTER_NO_RESPONSE),
    (CHECK_PRINTER, P_GARBLED, LINK_GARBLED),
    (CHECK_PRINTER, P_UNRECOVERABLE, HEAD_FAULT),
    (CHECK_HEAD, T_OPEN | T_SHORT, HEAD_FAULT),
    (CHECK_PRINTER, P_AUTO_RECOVER, HEAD_OVERHEAT),
    (CHECK_HEAD, T_OVERHEAT, HEAD_OVERHEAT),
    (CHECK_PRINTER, P_CUTTER | P_MECHANICAL, CUTTER_JAM),
    (CHECK_PRINTER, P_COVER, COVER_OPEN),
    (CHECK_PAPER, S_COVER, COVER_OPEN),
    (CHECK_PRINTER, P_PAPER_END, PAPER_OUT),
    (CHECK_PAPER, S_PAPER_END, PAPER_OUT),
    (CHECK_PRINTER, P_NEAR_END, PAPER_NEAR_END),
    (CHECK_PAPER, S_NEAR_END, PAPER_NEAR_END),
    (CHECK_PRINTER, P_FEED | P_WAIT_RECOVERY, PRINTER_BUSY_OFFLINE),
    (CHECK_HOST, H_DNS | H_REFUSED | H_TIMEOUT, HOST_UNREACHABLE),
    (CHECK_HOST, H_REJECTS, HOST_REJECTS),
    (CHECK_HOST, H_SLOW | H_ECHO_TIMEOUT, HOST_SLOW),
    (CHECK_PRINTER, P_UNSUPPORTED, SOFTWARE_MISMATCH),
    (CHECK_PRINTER, P_PARTIAL, LINK_INTERMITTENT),
)

LANGS = ("zh", "en")

# Shown after a failed print, beside a QR code with the e-receipt.
E_RECEIPT_HINT = ("可提供电子小票\n请顾客扫码", "E-receipt ready\nScan the QR code")

# Shown when every check passed.
HEALTHY_HINT = ("自检通过\n打印机就绪", "Self-test passed\nPrinter ready")


def hint(code, lang):
    """The merchant's two-line hint for a cause code (None: all healthy), in
    'zh' or 'en'."""
    en = lang == "en"
    if code is None:
        return HEALTHY_HINT[en]
    return HINTS[2 * code + en]
