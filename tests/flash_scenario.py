# Power cuts at block level on the file systems boards use, run on the
# MicroPython unix port (tests/test_flash_powercut.py starts it):
#
#     MICROPYPATH=firmware:host_tools/sim micropython tests/flash_scenario.py \
#         lfs|fat [BLOCK_SIZE [ROUNDS [N]]]
#
# The firmware's own log (the diagnostics log "d" and the receipt journal "r"),
# wear counters and boot count run a fixed scenario on os.VfsLfs2 or
# os.VfsFat over a RAM block device. The scenario is run once to count its
# program/erase operations, then once for every cut point N and both ways of
# losing the N-th operation (lost, half-written); after each cut the image is
# mounted again ("reboot"), the logs reopened and checked against what the
# scenario knew was committed. The last line printed is a JSON summary.
import gc
import json
import os
import sys

from blockdev import PowerCutBlockDevice

from posdiag import flashfile
from posdiag.counters import Counters
from posdiag.hal import FileStorage
from posdiag.log import Log

MOUNT = "/flash"
ROOT = MOUNT + "/posdiag"
BLOCK_SIZE = 512              # as on STM32; ESP8266 and ESP32 use 4096
FLASH_SIZE = 64 * 1024       # at least 64 blocks (FAT needs more than 16)
D_ARGS = (3, 3, "d")            # 3 segments of 3: rotation drops soon
R_ARGS = (3, 2, "r", 600)       # the journal: 3 segments of 2 receipts
ROUNDS = 4


def d_rec(seq):
    # A small CBOR-like record unique to its seq (never starting with 0xF6).
    return b"\xa1\x01\x58\x18" + ("rec-%06d-of-the-log!" % seq).encode()[:24]


def r_rec(seq):
    # A receipt of 300 bytes with a marker that must not outlive its ack.
    mark = ("CARD-%04d-" % seq).encode()
    return b"\x59\x01\x28" + mark * 29 + b"x" * (297 - 10 * 29)


def marker(seq):
    return ("CARD-%04d-" % seq).encode()


class Cut(Exception):
    pass


class Model:
    """What the scenario knows reached flash: an operation counts once it
    returned with the device still powered."""

    def __init__(self):
        self.committed = {"d": {}, "r": {}}   # seq -> payload
        self.acked = {"d": set(), "r": set()}
        self.cleared = {"d": set(), "r": set()}
        self.drops = {"d": 0, "r": 0}
        self.boot = 0
        self.counters = [0, 0, 0]
        self.settings = None   # settings.json, as config.change writes it
        self.pending = None   # the operation in flight when the power went


def scenario(storage, dev, m):
    def alive():
        if dev.dead:
            raise Cut()   # the file system swallowed the error: in flight

    def open_all():
        return (Log(storage, *D_ARGS), Log(storage, *R_ARGS),
                Counters(storage))

    def append(log, fn):
        seq = log.next_seq
        m.pending = ("append", log._name, seq, fn(seq))
        got, _ = log.append(fn)
        alive()
        assert got == seq
        m.committed[log._name][seq] = fn(seq)
        m.drops[log._name] = log.drops
        m.pending = None

    def ack(log, seq):
        m.pending = ("ack", log._name, seq)
        assert log.ack(seq)
        alive()
        m.acked[log._name].add(seq)
        m.drops[log._name] = log.drops
        m.pending = None

    def clear(log):
        seqs = set(s for s, _ in log.records())
        m.pending = ("clear", log._name, seqs)
        log.clear()
        alive()
        m.cleared[log._name] |= seqs
        m.pending = None

    def boot(log):
        m.pending = ("boot",)
        b = log.note_boot()
        alive()
        m.boot = b
        m.pending = None

    def count(c, paper, cuts, energized):
        c.add(paper, cuts, energized)
        values = list(c.values)
        m.pending = ("counters", values)
        c.save()
        alive()
        m.counters = values
        m.pending = None

    def settings(k):
        data = json.dumps({"budget_ms": 700 + k}).encode()
        m.pending = ("settings", data)
        flashfile.write_atomic(storage, "settings.json", data)
        alive()
        m.settings = data
        m.pending = None

    for k in range(ROUNDS):
        # Each round starts with a reboot without a power cut.
        m.pending = ("open",)
        d, r, c = open_all()
        alive()
        m.pending = None
        boot(d)
        for _ in range(4):
            append(d, d_rec)
        for _ in range(3):
            append(r, r_rec)
        live = [s for s, _ in r.records()]
        ack(r, live[len(live) // 2])     # overwritten in place
        ack(r, live[0])                  # the oldest: its segment may go
        count(c, 80, 1, 100)
        settings(k)
        for _ in range(8):
            append(d, d_rec)             # rotations that drop records
        for _ in range(4):
            append(r, r_rec)             # the journal full: receipts dropped
        ack(r, r.next_seq - 1)           # in the newest segment: kept
        clear(d if k % 2 == 0 else r)
        for _ in range(2):
            append(d, d_rec)
        count(c, 160, 2, 300)


def files_bytes(storage):
    out = []
    for name in storage.listdir():
        f = storage.open(name, "rb")
        out.append(f.read())
        f.close()
    return out


def check(storage, m):
    """After a reboot: what is wrong, as a list of texts."""
    bad = []
    p = m.pending
    d, r, c = Log(storage, *D_ARGS), Log(storage, *R_ARGS), Counters(storage)
    image = files_bytes(storage)
    highest = {}
    for log in (d, r):
        name = log._name
        committed = m.committed[name]
        found = list(log.records())
        seqs = [s for s, _ in found]
        if seqs != sorted(set(seqs)):
            bad.append("%s: seqs out of order or twice: %s" % (name, seqs))
        for seq, data in found:
            ok = committed.get(seq) == data
            if (not ok and p and p[0] == "append" and p[1] == name
                    and p[2] == seq and p[3] == data):
                ok = True   # the append in flight reached flash whole
            if not ok:
                bad.append("%s: record %d read but never appended as such"
                           % (name, seq))
        pend_ack = p[2] if p and p[0] == "ack" and p[1] == name else None
        pend_clear = p[2] if p and p[0] == "clear" and p[1] == name else set()
        live = [s for s in committed if s not in m.acked[name]
                and s not in m.cleared[name]]
        missing = [s for s in live if s not in seqs and s != pend_ack
                   and s not in pend_clear]
        if log.drops < len(missing):
            bad.append("%s: %d records missing (%s) but drops = %d"
                       % (name, len(missing), sorted(missing), log.drops))
        elif log.drops != len(missing):
            bad.append("%s: drops = %d for %d records missing"
                       % (name, log.drops, len(missing)))
        if log.drops < m.drops[name]:
            bad.append("%s: drops went back from %d to %d"
                       % (name, m.drops[name], log.drops))
        for s in m.acked[name]:
            if s in seqs:
                bad.append("%s: acknowledged %d read again" % (name, s))
        for s in m.cleared[name]:
            if s in seqs:
                bad.append("%s: cleared %d read again" % (name, s))
        gone = list(m.acked[name])
        if pend_ack is not None and pend_ack not in seqs:
            gone.append(pend_ack)
        if name == "r":
            for s in gone:
                if any(marker(s) in b for b in image):
                    bad.append("r: delivered receipt %d still in a file" % s)
        highest[name] = max(list(committed) + seqs + [0])
        if log.torn:
            bad.append("%s: torn = %d on a file system that commits whole"
                       % (name, log.torn))
    boot_ok = d.boot == m.boot or (p == ("boot",) and d.boot == m.boot + 1)
    if not boot_ok:
        bad.append("boot count %d, expected %d" % (d.boot, m.boot))
    if c.values != m.counters and not (
            p and p[0] == "counters" and c.values == p[1]):
        bad.append("counters %s, expected %s" % (c.values, m.counters))
    try:
        kept = flashfile.read(storage, "settings.json")
    except OSError:
        kept = None
    if kept != m.settings and not (p and p[0] == "settings" and kept == p[1]):
        bad.append("settings.json %r, expected %r" % (kept, m.settings))
    # Life goes on: new seqs above every seq that reached flash, and a
    # second reboot (no cut) reads the same.
    before = {}
    for log in (d, r):
        fn = d_rec if log is d else r_rec
        seq, _ = log.append(fn)
        if seq <= highest[log._name]:
            bad.append("%s: seq %d handed out again (highest on flash %d)"
                       % (log._name, seq, highest[log._name]))
        before[log._name] = (list(log.records()), log.drops)
    boots = d.boot
    d2, r2 = Log(storage, *D_ARGS), Log(storage, *R_ARGS)
    for log in (d2, r2):
        if (list(log.records()), log.drops) != before[log._name]:
            bad.append("%s: a second reboot reads otherwise" % log._name)
    if d2.boot != boots:
        bad.append("boot count changed on a second reboot")
    return bad


def mount(fs, dev):
    vfs = os.VfsLfs2(dev) if fs == "lfs" else os.VfsFat(dev)
    os.mount(vfs, MOUNT)


def umount():
    try:
        os.umount(MOUNT)
    except OSError:
        pass


def fresh_image(fs):
    dev = PowerCutBlockDevice(BLOCK_SIZE, BLOCK_COUNT)
    if fs == "lfs":
        os.VfsLfs2.mkfs(dev)
    else:
        os.VfsFat.mkfs(dev)
    return bytes(dev.data)


def checked(fs, image, m):
    """Problems found after a reboot from image."""
    dev = PowerCutBlockDevice(BLOCK_SIZE, BLOCK_COUNT, image)
    try:
        mount(fs, dev)
    except OSError as e:
        return ["mount after the cut failed: %r" % (e,)]
    try:
        return check(FileStorage(ROOT), m)
    except Exception as e:   # noqa: BLE001 (report, go on with the next cut)
        sys.print_exception(e)
        return ["check raised %r" % (e,)]
    finally:
        umount()


def reopen(fs, image, cut_at, half):
    """The device after opening the logs and counters on image (the repair
    a boot does), cut at cut_at (None: no cut)."""
    dev = PowerCutBlockDevice(BLOCK_SIZE, BLOCK_COUNT, image, cut_at, half)
    mount(fs, dev)
    try:
        storage = FileStorage(ROOT)
        Log(storage, *D_ARGS)
        Log(storage, *R_ARGS)
        Counters(storage)
    except OSError:
        if not dev.dead:
            raise
    finally:
        umount()
    return dev


def run(fs, base, cut_at, half):
    """(ops counted, second cuts tried, problems) of one run cut at cut_at
    (None: no cut). After the cut, the repair at the next open is cut too,
    at each of its operations, before the reboot that is checked."""
    dev = PowerCutBlockDevice(BLOCK_SIZE, BLOCK_COUNT, base, cut_at, half)
    m = Model()
    try:
        mount(fs, dev)
    except OSError as e:
        return dev.ops, 0, ["mount before the scenario failed: %r" % (e,)]
    try:
        storage = FileStorage(ROOT)
        scenario(storage, dev, m)
    except (OSError, Cut):
        if not dev.dead:
            umount()
            raise   # a real failure, not the cut
    umount()
    ops = dev.ops
    if cut_at is not None and not dev.dead:
        return ops, 0, []   # the scenario ended before the cut point
    image = bytes(dev.data)
    bad = checked(fs, image, m)
    if cut_at is None or bad:
        return ops, 0, bad
    try:
        repair = reopen(fs, image, None, half).ops
    except OSError as e:
        return ops, 0, ["opening after the cut failed: %r" % (e,)]
    for k in range(1, repair + 1):
        again = reopen(fs, image, k, half)
        for problem in checked(fs, bytes(again.data), m):
            bad.append("second cut at op %d of %d of the repair: %s"
                       % (k, repair, problem))
    return ops, repair, bad


def main():
    global BLOCK_SIZE, BLOCK_COUNT, ROUNDS
    fs = sys.argv[1]
    if len(sys.argv) > 2:
        BLOCK_SIZE = int(sys.argv[2])
    BLOCK_COUNT = max(FLASH_SIZE // BLOCK_SIZE, 64)
    if len(sys.argv) > 3:
        ROUNDS = int(sys.argv[3])
    only = int(sys.argv[4]) if len(sys.argv) > 4 else None
    base = fresh_image(fs)
    total, _, bad = run(fs, base, None, False)
    failures = []
    if bad:
        failures.append({"n": None, "mode": "none", "problems": bad})
    cuts = {"lost": 0, "half": 0}
    second = {"lost": 0, "half": 0}
    for mode in ("lost", "half"):
        for n in range(1, total + 1):
            if only is not None and n != only:
                continue
            _, repair, bad = run(fs, base, n, mode == "half")
            cuts[mode] += 1
            second[mode] += repair
            if bad and len(failures) < 30:
                failures.append({"n": n, "mode": mode, "problems": bad})
            gc.collect()
    print(json.dumps({"fs": fs, "block_size": BLOCK_SIZE, "ops": total,
                      "cuts": cuts, "second_cuts": second,
                      "failed": len(failures), "failures": failures}))


main()
