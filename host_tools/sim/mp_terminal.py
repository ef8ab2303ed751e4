# The simulated terminal on the MicroPython unix port: the firmware in a
# `micropython` process, its board wired to real parts. The printer port and
# the diagnostics port are ttys opened by path (host_tools/sim/mp_tty.py), the
# settlement host is reached over a real socket by the firmware's own
# netprobe.TcpProbe, random bytes come from os.urandom, flash is a littlefs
# image file (host_tools/sim/blockdev.py) mounted at /flash, and the sensors
# and ADC inputs are the fault scenario's (host_tools/sim/faults.py).
#
#   micropython -m host_tools.sim.mp_terminal run SETTINGS.json
#   micropython -m host_tools.sim.mp_terminal export IMAGE DIR
#
# run: SETTINGS is written by MicroPythonTerminal (host_tools/sim/runner.py)
# in a private folder and removed here once read (the failed prints in it may
# carry card numbers not masked yet). The screen goes to stdout, then the line
# "booted" once the boot self-test and the failed prints are done; errors go
# to stderr. The process ends when its stdin closes (the simulator is gone).
# export: copies the image's files into DIR (a folder of the host), to read
# them, or for --history to add to them (past.py runs on CPython): SETTINGS'
# "past" names such a folder, whose files replace the image's before boot.
# MicroPython code: no annotations.
import json
import os
import select
import socket
import sys
import time

from host_tools.sim import blockdev, faults, parts
from host_tools.sim.mp_tty import TtyPort
from posdiag import config
from posdiag.board import BoardClock
from posdiag.hal import FileStorage, Parts, Sensor
from posdiag.link import LinkServer
from posdiag.netprobe import TcpProbe
from posdiag.receipt import ReceiptError
from posdiag.terminal import Terminal

MOUNT = "/flash"
BLOCK_SIZE = 4096       # a NOR flash erase block, as on ESP32 and RP2 boards
MIN_BLOCKS = 256        # 1 MB


class UnixClock(BoardClock):
    """The board's clock; the unix port's time.time() is a float where a
    board's is an int."""

    def unix_time(self):
        now = int(time.time())
        return now if now > 1600000000 else None


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return None


def mount(image, blocks=MIN_BLOCKS):
    """Mount the littlefs image at /flash, formatting it when the file is
    new (blocks of BLOCK_SIZE); an existing image keeps its own size.
    Returns the block device."""
    size = _size(image)
    if size is not None:
        if size == 0 or size % BLOCK_SIZE:
            raise ValueError("flash image %s is %d bytes: not a whole number of %d-byte blocks"
                             % (image, size, BLOCK_SIZE))
        blocks = size // BLOCK_SIZE
    dev = blockdev.FileBlockDevice(image, BLOCK_SIZE, blocks)
    if size is None:
        os.VfsLfs2.mkfs(dev)
    try:
        vfs = os.VfsLfs2(dev)
    except OSError as e:
        raise ValueError("flash image %s is not a littlefs file system (error %s)" % (image, e)) from None
    os.mount(vfs, MOUNT)
    return dev


def _copy(src, dst):
    fin = open(src, "rb")
    try:
        data = fin.read()
    finally:
        fin.close()
    fout = open(dst, "wb")
    try:
        fout.write(data)
    finally:
        fout.close()


def export(image, folder):
    """Copy every file of the image into folder (a host folder)."""
    dev = mount(image)
    try:
        for name in os.listdir(MOUNT):
            _copy(MOUNT + "/" + name, folder + "/" + name)
    finally:
        os.umount(MOUNT)
        dev.close()


def load_past(folder):
    """Make /flash hold exactly the files of folder: the flash as the
    simulator wrote its history into it (host_tools/sim/past.py on CPython)."""
    names = os.listdir(folder)
    for name in os.listdir(MOUNT):
        if name not in names:
            os.remove(MOUNT + "/" + name)
    for name in names:
        _copy(folder + "/" + name, MOUNT + "/" + name)
        os.remove(folder + "/" + name)


def _tls():
    # The unix port's ssl, checking the hub's certificate against the CA
    # file SSL_CERT_FILE names (a board has no CA store; docs/hub.md).
    if ".frozen" not in sys.path:
        sys.path.append(".frozen")   # the port's own ssl.py (MICROPYPATH replaced the path)
    try:
        import ssl
    except ImportError:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca = os.getenv("SSL_CERT_FILE")
    if ca:
        f = open(ca, "rb")
        try:
            ctx.load_verify_locations(cadata=f.read())
        finally:
            f.close()
    return ctx


def _settings(path):
    f = open(path)
    try:
        settings = json.load(f)
    finally:
        f.close()
    os.remove(path)
    overrides = settings["config"]
    for key in settings["hex_keys"]:   # bytes travel as hex in JSON
        overrides[key] = bytes.fromhex(overrides[key])
    return settings


def run(settings_path):
    """Build the terminal, run the boot self-test and the failed prints, then
    serve the diagnostics link until stdin closes."""
    settings = _settings(settings_path)
    s = faults.scenario(settings["faults"])
    cfg = config.load(settings["config"])
    dev = mount(settings["image"], settings["blocks"])
    if settings.get("past"):
        load_past(settings["past"])
    clock = UnixClock()
    hw = Parts(
        clock,
        FileStorage(MOUNT),
        parts.ConsoleDisplay(print),
        printer=TtyPort(settings["printer"], cfg["printer_baud"]),
        paper_end=Sensor(parts.VirtualPin(1 if s.paper_end_pin else 0), 1),
        near_end=Sensor(parts.VirtualPin(1 if s.near_end_pin else 0), 1),
        cover=Sensor(parts.VirtualPin(1 if s.cover_pin else 0), 1),
        head_adc=parts.VirtualAdc(*s.head),
        supply_adc=parts.VirtualAdc(*s.supply),
        probe=TcpProbe(socket, clock),
        entropy=os.urandom,
        net=socket if cfg["hub_url"] else None,   # the uploader's (posdiag/uploader.py)
        tls=_tls() if cfg["hub_url"].startswith("https://") else None,
    )
    terminal = Terminal(cfg, hw)
    diag = TtyPort(settings["diag"])
    link = LinkServer(diag, terminal)
    terminal.boot()
    # As SimulatedTerminal.boot: a refused receipt is refused alone.
    i = 0
    for item in settings["failed_prints"]:
        i += 1
        # A [name, receipt] pair when the simulator names the file (JSON
        # turns its tuple into a list).
        pair = isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
        name, fields = item if pair else ("#%d" % i, item)
        try:
            terminal.failed_print(fields)
        except ReceiptError as e:
            print("failed print %s not kept: %s" % (name, e))
    del settings
    print("booted")
    parent = select.poll()
    parent.register(sys.stdin, select.POLLIN)
    while not parent.poll(0):   # stdin readable: closed, the simulator is gone
        if not link.poll():
            terminal.tick()
            diag.wait(20)   # wakes at once when a request arrives
    os.umount(MOUNT)
    dev.close()


def main(argv):
    try:
        if len(argv) == 2 and argv[0] == "run":
            run(argv[1])
        elif len(argv) == 3 and argv[0] == "export":
            export(argv[1], argv[2])
        else:
            print("usage: mp_terminal run SETTINGS.json | export IMAGE DIR", file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        return 0
    except Exception as e:  # noqa: BLE001 - one line for the simulator, then the details
        print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.print_exception(e, sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
