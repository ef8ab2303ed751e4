"""The firmware's pure logic on real MicroPython gives what it gives on CPython.

One script (SHARED) computes every case and reports it through emit(); it runs
once on MicroPython (the WebAssembly port, host_tools/mpruntime) and once here
on CPython, and the tests compare the two, case by case. The CBOR cases are
also checked against cbor2.
"""

from __future__ import annotations

import functools
import json

import cbor2
import pytest

from host_tools import mpruntime

# Runs unchanged on both runtimes: the inputs, and what the firmware makes of
# them. emit(name, value) takes JSON-able values (bytes as hex strings).
SHARED = r"""
from posdiag import catalog as c
from posdiag import cbor, escpos, frame, rank, record

# --- CBOR: every type and head-length boundary -----------------------------
INTS = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
        -1, -24, -25, -256, -257, -65536, -65537, -2**32, -2**32 - 1, -2**64]
BYTES = [b"", bytes(range(23)), b"\xff" * 24, bytes([i & 0xFF for i in range(300)]),
         b"\x00" * 255, b"\x01" * 256, bytearray(b"\x00\x01\x02")]
STRS = ["", "a", "x" * 23, "y" * 24, "POS-0001", c.hint(0, "zh"), "中" * 100,
        "\u00e9\u20ac\U0001f600"]
CONTAINERS = [
    [], [[]], [1, [2, [3, []]]], list(range(24)), [None, True, False],
    {}, {0: 1}, {0: [1, {1: b"x"}], 1: None, 2: {0: "中文", 1: [True, -1]}},
    dict([(i, i * 1000) for i in range(24)]),
]
CBOR_VALUES = INTS + BYTES + STRS + CONTAINERS + [None, True, False]
CBOR_VALUES.append(list(CBOR_VALUES))

# Maps whose key order is not ascending small integers.
CBOR_UNORDERED = {
    "text-keys": {"posdiag": 1, "terminal": "POS-0001", "firmware": "0.1.0",
                  "printer": None, "boot": 3, "oldest": 1, "newest": 40,
                  "drops": 0, "torn": 0},
    "int-keys-descending": {1: "a", 0: "b"},
}

HEALTHY_RAW = b"\x16\x12\x12\x12"
FAILING_RAW = b"\x1e\x36\x7e\x7e"
NOT_RUN = [None, None, None, None, None]
HEALTHY = record.build(1, 1, 12, None, record.TRIGGER_BOOT,
                       [[0, HEALTHY_RAW, 35], 0, [0, 41, None], [0, 352],
                        [0, 24010, 40]])
FAILING = record.build(4000000000, 65535, 86400 * 365, 1732500000,
                       record.TRIGGER_FAILED_PRINT,
                       [[escpos.flags_from_raw(FAILING_RAW) | c.P_UNSUPPORTED,
                         FAILING_RAW, 480, 4],
                        c.S_PAPER_END | c.S_NEAR_END | c.S_COVER | c.S_DISAGREE,
                        [c.H_DNS | c.H_REFUSED | c.H_TIMEOUT | c.H_SLOW | c.H_REJECTS
                         | c.H_ECHO_TIMEOUT, None, None],
                        [c.T_OVERHEAT | c.T_OPEN | c.T_SHORT, None],
                        [c.V_LOW | c.V_HIGH | c.V_UNSTABLE | c.V_BROWNOUT | c.V_WATCHDOG,
                         17000, 4100]], 12345)
SCHEDULED = record.build(70000, 300, 86400, 1732500000, record.TRIGGER_SCHEDULE,
                         [[0, HEALTHY_RAW, 35], 0, [0, 41, 60], [0, -52],
                          [0, 24010, 40]], None, [123456789, 1234567, 987654321])
RECORDS = {"healthy": HEALTHY, "failing": FAILING, "scheduled": SCHEDULED,
           "time-no-trigger": record.build(2, 1, 0, 1732500000, record.TRIGGER_BOOT,
                                           NOT_RUN),
           "trigger-no-time": record.build(3, 1, 0, None, record.TRIGGER_REQUEST,
                                           NOT_RUN)}

for i in range(len(CBOR_VALUES)):
    emit("cbor/%d" % i, cbor.encode(CBOR_VALUES[i]).hex())
for name in CBOR_UNORDERED:
    emit("cbor-unordered/" + name, cbor.encode(CBOR_UNORDERED[name]).hex())
for name in RECORDS:
    emit("record/" + name, record.encode(RECORDS[name]).hex())

# --- ESC/POS status bytes ---------------------------------------------------
emit("status/is_status", [escpos.is_status(b) for b in range(256)])
for n in range(1, 5):
    emit("status/flags/%d" % n, [escpos.status_flags(n, b) for b in range(256)])
RAW_SEQUENCES = [b"", b"\x12", HEALTHY_RAW, FAILING_RAW, b"\x16\x12\x12\x13",
                 b"\x00\x12\x12\x12", b"\x11", b"\x13\x12", b"\x1e\x32\x52\x6e",
                 bytearray(b"\x1a\x16\x12\x0e"), bytes(range(0x12, 0x100, 0x10)),
                 b"\xff\xff\xff\xff", b"\x12\x12\x12\x12\x12"]
emit("status/raw", [escpos.flags_from_raw(raw) for raw in RAW_SEQUENCES])

# --- Ranking ------------------------------------------------------------------
def bits(n):
    return [1 << i for i in range(n)]

CHECK_SETS = [[], [None], [None, None, None], [0, 0, 0], [[0, None, 0], 0, 50],
              [[0, HEALTHY_RAW, 30], 0, [0, 50]], HEALTHY[record.K_CHECKS],
              FAILING[record.K_CHECKS], [[c.P_NO_REPLY, None, 240]], [None, c.S_COVER]]
for f in bits(12):
    CHECK_SETS.append([[f, None, 1], 0, 5])
for f in bits(3):
    CHECK_SETS.append([[0, None, 1], f, 5])
for f in bits(5):
    CHECK_SETS.append([[0, None, 1], 0, [f, None]])
    CHECK_SETS.append([None, None, [f, 900]])
pbits = bits(12)
sbits = bits(3)
for i in range(len(pbits)):
    for j in range(i + 1, len(pbits)):
        for s in [0] + sbits:
            CHECK_SETS.append([[pbits[i] | pbits[j], None, 1], s, [c.H_SLOW, 700]])
for p in range(0, 8192, 37):
    CHECK_SETS.append([[p, None, 1], p & 15, [p & 63, None, None], [p & 7, None],
                       [p & 31, 20000, 3000]])
for f in bits(3):
    CHECK_SETS.append([None, None, None, [f, None], None])
for f in bits(5):
    CHECK_SETS.append([[c.P_NO_REPLY, b"", 240], 0, 5, 300, [f, 20000, 3000]])
emit("rank", [rank.causes(checks) for checks in CHECK_SETS])

# --- Frames -----------------------------------------------------------------------
PAYLOADS = [b"", b"\x00", b"\x00" * 5, b"\x01\x00\x02\x00\x00\x03", bytes(range(256)),
            b"\x01" * 253, b"\x02" * 254, b"\x03" * 255, bytes([1 + i % 255 for i in range(300)]),
            bytes([i % 7 for i in range(600)]), b"\xaa" * 1024]
FRAMES = []
for i in range(len(PAYLOADS)):
    FRAMES.append(frame.encode(i + 1, (i * 37) & 0xFF, PAYLOADS[i]))
    emit("frame/encode/%d" % i, FRAMES[-1].hex())

def decode(stream, max_body=frame.MAX_BODY):
    reader = frame.Reader(max_body)
    got = []
    for b in stream:
        if reader.push(b):
            got.append([reader.kind, reader.req_id, bytes(reader.payload()).hex()])
    return [got, reader.errors]

stream = bytearray(b"\x00\x00console text\r\n\x00")
for f in FRAMES:
    stream.extend(f)
    stream.extend(b"\x00")
bad_crc = bytearray(frame.encode(9, 9, b"crc"))
bad_crc[3] ^= 0x01
stream.extend(bad_crc)
stream.extend(b"\x05\x01\x00")           # COBS code running past the frame
stream.extend(frame.encode(0x81, 7, b"after noise"))
emit("frame/reader/stream", decode(stream))
emit("frame/reader/small", decode(b"".join(FRAMES[:5]) + FRAMES[0], max_body=64))
"""

MP_ONLY = r"""
import gc

def _alloc(fn, arg):
    gc.collect()
    a = gc.mem_alloc()
    fn(arg)
    return gc.mem_alloc() - a

record.encode(HEALTHY)   # first call out of the way
emit("heap/encode-healthy", _alloc(record.encode, HEALTHY))
emit("heap/encode-failing", _alloc(record.encode, FAILING))
"""

MP_PRELUDE = r"""
import json

def emit(name, value):
    print(name + "\t" + json.dumps(value))
"""


@functools.cache
def _run_cpython() -> tuple[dict, dict]:
    out: dict = {}
    namespace: dict = {"emit": lambda name, value: out.__setitem__(name, value)}
    exec(compile(SHARED, "<shared>", "exec"), namespace)
    # Through JSON as on MicroPython, so both sides compare as the same types.
    return json.loads(json.dumps(out)), namespace


class _Results:
    """MicroPython's emitted values by name; every test that reads one fails
    (not errors, not skips) when the runtime could not run."""

    def __init__(self, values: dict | None, error: str | None) -> None:
        self._values = values
        self._error = error

    def __getitem__(self, name: str):
        if self._error is not None:
            pytest.fail(self._error, pytrace=False)
        assert self._values is not None
        assert name in self._values, f"MicroPython did not report {name!r}"
        return self._values[name]


@pytest.fixture(scope="module")
def mp() -> _Results:
    try:
        stdout = mpruntime.run_micropython(MP_PRELUDE + SHARED + MP_ONLY, timeout=120)
    except RuntimeError as exc:
        return _Results(None, str(exc))
    values = {}
    for line in stdout.splitlines():
        name, _, value = line.partition("\t")
        values[name] = json.loads(value)
    return _Results(values, None)


@pytest.fixture(scope="module")
def cp() -> tuple[dict, dict]:
    return _run_cpython()


def _names(prefix: str) -> list[str]:
    return sorted(name for name in _run_cpython()[0] if name.startswith(prefix))


def _plain(value):
    """value as cbor2 decodes it: tuples and bytearrays become lists and bytes."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def _check_cbor(mp_hex: str, cp_hex: str, value) -> None:
    assert mp_hex == cp_hex, "MicroPython and CPython encodings differ"
    assert bytes.fromhex(cp_hex) == cbor2.dumps(value), "posdiag.cbor differs from cbor2"
    assert cbor2.loads(bytes.fromhex(mp_hex)) == _plain(value)


@pytest.mark.parametrize("name", _names("cbor/"))
def test_cbor_golden_bytes(mp, cp, name):
    index = int(name.split("/")[1])
    _check_cbor(mp[name], cp[0][name], cp[1]["CBOR_VALUES"][index])


@pytest.mark.parametrize("name", ["healthy", "failing", "scheduled", "time-no-trigger", "trigger-no-time"])
def test_record_golden_bytes(mp, cp, name, validate):
    _check_cbor(mp["record/" + name], cp[0]["record/" + name], cp[1]["RECORDS"][name])
    validate(bytes.fromhex(mp["record/" + name]))


def test_record_round_trips_on_micropython(mp, cp):
    # CBOR maps are unordered: whatever the order, cbor2 reads the same record.
    for name, rec in cp[1]["RECORDS"].items():
        assert cbor2.loads(bytes.fromhex(mp["record/" + name])) == _plain(rec), name


def test_record_sizes(cp):
    # The goals in docs: a healthy record <= 32 bytes, all checks failing <= 64.
    assert len(bytes.fromhex(cp[0]["record/healthy"])) <= 32
    assert len(bytes.fromhex(cp[0]["record/failing"])) <= 64


@pytest.mark.parametrize("name", sorted(["text-keys", "int-keys-descending"]))
def test_cbor_map_keys_in_deterministic_order(mp, cp, name):
    # MicroPython dicts do not keep insertion order: the encoder sorts keys
    # (RFC 8949 4.2.1), so both runtimes write the same bytes as cbor2's
    # canonical mode (no floats here, so canonical float16 does not arise).
    key = "cbor-unordered/" + name
    value = cp[1]["CBOR_UNORDERED"][name]
    assert mp[key] == cp[0][key]
    assert bytes.fromhex(mp[key]) == cbor2.dumps(value, canonical=True)
    assert cbor2.loads(bytes.fromhex(mp[key])) == _plain(value)


@pytest.mark.parametrize(
    "name",
    [
        "status/is_status",
        "status/flags/1",
        "status/flags/2",
        "status/flags/3",
        "status/flags/4",
        "status/raw",
    ],
)
def test_status_parsing(mp, cp, name):
    assert mp[name] == cp[0][name]


def test_status_fixed_bits(cp):
    valid = cp[0]["status/is_status"]
    assert sum(valid) == 16 and valid[0x12] and valid[0x7E] and not valid[0x11]


def test_ranking(mp, cp):
    assert len(cp[0]["rank"]) > 100
    assert mp["rank"] == cp[0]["rank"]


@pytest.mark.parametrize("name", _names("frame/encode/"))
def test_frame_encode(mp, cp, name):
    wire = bytes.fromhex(cp[0][name])
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    assert mp[name] == cp[0][name]


@pytest.mark.parametrize("name", ["frame/reader/stream", "frame/reader/small"])
def test_frame_reader(mp, cp, name):
    assert mp[name] == cp[0][name]


def test_frame_reader_recovers_every_payload(cp):
    frames, errors = cp[0]["frame/reader/stream"]
    payloads = [bytes.fromhex(p) for _, _, p in frames]
    assert payloads == cp[1]["PAYLOADS"] + [b"after noise"]
    # The console text, the bad CRC and the bad COBS; empty frames are no errors.
    assert errors == 3


def test_heap_encode_healthy_record(mp, record_property):
    healthy = mp["heap/encode-healthy"]
    record_property("heap_bytes_encode_healthy_record", healthy)
    record_property("heap_bytes_encode_failing_record", mp["heap/encode-failing"])
    assert 0 < healthy < 1024, f"encoding a healthy record allocated {healthy} bytes"


def test_runner_reports_python_errors():
    if not mpruntime.available():
        pytest.fail(mpruntime.missing() or "", pytrace=False)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        mpruntime.run_micropython("import sys\nprint(sys.implementation.name)\n1 // 0\n")
    assert mpruntime.run_micropython("import sys\nprint(sys.implementation.name)") == ("micropython\n")
