# The firmware's hardware seam on the MicroPython WebAssembly runtime: every
# part reaches the machine through Node (sim.mjs defines the js functions).
# Bytes cross as hex strings, the one form both sides convert exactly.
# MicroPython only: it imports the port's js module.
import js

from host_tools.sim import faults, parts
from posdiag import config
from posdiag.hal import Parts, Sensor
from posdiag.link import LinkServer
from posdiag.receipt import ReceiptError
from posdiag.terminal import Terminal


def _hex(data):
    # MicroPython's b"".hex() gives b"", not "": Node wants a string.
    return bytes(data).hex() if data else ""


class JsPort(parts.BufferedPort):
    """A tty (pseudo-terminal or serial device) as the machine.UART subset."""

    def __init__(self, path, baudrate=None):
        super().__init__()
        self.path = path
        self.fd = js.tty_open(path)
        if baudrate:
            self.init(baudrate)

    def init(self, baudrate):
        js.tty_baud(self.path, baudrate)

    def _fetch(self):
        data = bytes.fromhex(js.tty_read(self.fd, 512))
        if data:
            self._received(data)

    def write(self, data):
        js.tty_write(self.fd, _hex(data))
        return len(data)


class JsClock:
    def __init__(self):
        self._start = js.now_ms()

    def ticks_ms(self):
        return js.now_ms()

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        js.sleep_ms(ms)

    def uptime_s(self):
        return (js.now_ms() - self._start) // 1000

    def unix_time(self):
        return js.unix_time()


class JsProbe:
    """The settlement host over Node's TCP (a worker thread does the I/O
    while this call waits)."""

    def connect(self, host, port, timeout_ms, echo=b"", expect=b""):
        reply = js.tcp_probe(host, port, timeout_ms, _hex(echo), _hex(expect))
        flags, rtt, took = [int(v) for v in reply.split(",")]
        return flags, (rtt if rtt >= 0 else None), (took if took >= 0 else None)


class _JsFile:
    # Whole-file reads; writes go straight through to the real file.
    def __init__(self, path, mode):
        self._path = path
        self._mode = mode
        if "w" in mode:
            js.file_write(path, "", False)

    def read(self):
        return bytes.fromhex(js.file_read(self._path))

    def write(self, data):
        js.file_write(self._path, _hex(data), True)
        return len(data)

    def close(self):
        pass


class JsStorage:
    """Flat files in a real folder of the host (the simulator's --state)."""

    def __init__(self, root):
        self._root = root
        js.dir_make(root)

    def _path(self, name):
        return self._root + "/" + name

    def open(self, name, mode):
        if "r" in mode and not js.file_exists(self._path(name)):
            raise OSError(2, "no such file")
        return _JsFile(self._path(name), mode)

    def remove(self, name):
        js.file_remove(self._path(name))

    def rename(self, old, new):
        js.file_rename(self._path(old), self._path(new))

    def listdir(self):
        names = js.dir_list(self._root)
        return names.split("/") if names else []

    def size(self, name):
        return js.file_size(self._path(name))


def run(settings):
    """Build the terminal from settings (sim.mjs passes the simulator's),
    run the boot self-test, then serve the diagnostics link until killed."""
    s = faults.scenario(settings["faults"])
    clock = JsClock()
    overrides = settings["config"]
    for key in settings["hex_keys"]:  # bytes travel as hex in JSON
        overrides[key] = bytes.fromhex(overrides[key])
    cfg = config.load(overrides)
    hw = Parts(
        clock,
        JsStorage(settings["flash"]),
        parts.ConsoleDisplay(print),
        printer=JsPort(settings["printer"], cfg["printer_baud"]),
        paper_end=Sensor(parts.VirtualPin(1 if s.paper_end_pin else 0)),
        near_end=Sensor(parts.VirtualPin(1 if s.near_end_pin else 0)),
        cover=Sensor(parts.VirtualPin(1 if s.cover_pin else 0)),
        head_adc=parts.VirtualAdc(*s.head),
        supply_adc=parts.VirtualAdc(*s.supply),
        probe=JsProbe(),
        entropy=lambda n: bytes.fromhex(js.random_hex(n)),
    )
    terminal = Terminal(cfg, hw)
    link = LinkServer(JsPort(settings["diag"]), terminal)
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
    print("booted")
    while True:
        if not link.poll():
            terminal.tick()
            clock.sleep_ms(2)
