# The hardware seam. The firmware reaches hardware only through objects handed
# to constructors; this module says what each must offer and holds the two
# pieces that are plain code on every runtime (sensor polarity, file storage).
# posdiag/board.py wires real parts (machine.UART, Pin); host_tools/sim wires
# virtual ones; tests wire their own.
#
# Port (printer port and diagnostics port), the machine.UART subset:
#   write(buf) -> int | None, any() -> int, read(n) -> bytes | None,
#   readinto(buf) -> int | None, and for the printer port init(baudrate=n)
#   (the baud-rate scan)
# Input pin: value() -> 0 | 1
# ADC (head thermistor, supply voltage divider): read_u16() -> 0..65535
# Clock: ticks_ms() -> int, ticks_diff(a, b) -> int, sleep_ms(ms),
#   uptime_s() -> int (seconds since boot, never wrapping),
#   unix_time() -> int | None (None until the real time is known)
# Network probe (posdiag/netprobe.py): connect(host, port, timeout_ms,
#   echo=b"", expect=b"") -> (host flags, connect ms | None, echo ms | None)
# Network for uploads to a posdiag hub (posdiag/uploader.py, optional
#   package posdiag-uploader): net, the socket module (getaddrinfo, socket,
#   SOCK_STREAM; sockets with settimeout, connect, send or write, recv_into
#   or readinto, close); tls, an object with wrap_socket(sock,
#   server_hostname=name) (an ssl.SSLContext that checks the hub's
#   certificate), None where the board has no TLS (then only a hub on the
#   loopback, over http://, can be used)
# Display: show(text) with two lines separated by "\n"; optionally
#   show_qr(data) to draw a QR code of the text data (the e-receipt)
# Storage: open(name, mode) with mode "rb", "wb", "ab" or "r+b" (seek(pos)
#   and write over bytes in place), remove(name), listdir(), size(name);
#   names are flat (no folders). No rename: posdiag/flashfile.py and
#   posdiag/log.py keep their guarantees without one (FAT has no atomic
#   rename).
import os


class Parts:
    """Everything the terminal touches, by name; None where a board has no
    such part (its check is then skipped). reset_cause is this boot's
    catalog.RESET_* code, read once by the board; entropy(n) gives n random
    bytes for the link's challenges (without it no command is authorised)."""

    def __init__(self, clock, storage, display, printer=None, paper_end=None,
                 near_end=None, cover=None, head_adc=None, supply_adc=None,
                 probe=None, reset_cause=0, entropy=None, net=None, tls=None):
        self.clock = clock
        self.storage = storage
        self.display = display
        self.printer = printer
        self.paper_end = paper_end
        self.near_end = near_end
        self.cover = cover
        self.head_adc = head_adc
        self.supply_adc = supply_adc
        self.probe = probe
        self.reset_cause = reset_cause
        self.entropy = entropy   # entropy(n) -> n random bytes (os.urandom)
        self.net = net           # the socket module, for the uploader
        self.tls = tls           # ssl.SSLContext-like, for an https:// hub


class Sensor:
    """A digital input with its active level: active() is True when the
    condition (paper end, cover open) holds, whatever the wiring polarity."""

    def __init__(self, pin, active_level=1):
        self._pin = pin
        self._active = active_level

    def active(self):
        return self._pin.value() == self._active


class FileStorage:
    """Flat files in one folder of a file system (littlefs on a board, a
    temporary folder in the simulator)."""

    def __init__(self, root):
        self._root = root
        path = ""
        for part in root.split("/"):   # each missing folder down to root
            if not part:
                continue
            path += "/" + part if path or root.startswith("/") else part
            try:
                os.mkdir(path)
            except OSError:
                pass   # already there

    def _path(self, name):
        return self._root + "/" + name

    def open(self, name, mode):
        return open(self._path(name), mode)

    def remove(self, name):
        os.remove(self._path(name))

    def listdir(self):
        # Listed as bytes: a directory entry a power cut left damaged on FAT
        # (a directory cluster linked before it was cleared) is skipped
        # instead of failing the whole listing with UnicodeError.
        out = []
        for name in os.listdir(self._root.encode()):
            try:
                out.append(name.decode())
            except UnicodeError:
                pass
        return out

    def size(self, name):
        return os.stat(self._path(name))[6]
