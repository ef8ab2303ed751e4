# A tty (a pseudo-terminal, or a real serial device) as the machine.UART
# subset, on the MicroPython unix port: opened by path with open(path, "r+b"),
# raw mode through termios (VMIN = VTIME = 0: a read returns at once with what
# has arrived), select.poll to wait. That port has no os.read and no fcntl,
# and its termios lacks some B<rate> names. The CPython simulator's port is
# host_tools/sim/hal_posix.py. MicroPython code: no annotations.
import select
import sys
import termios

from host_tools.sim.parts import BufferedPort

# Indexes into termios' cc list, and the B<rate> values the unix port's
# termios does not name. On the BSDs (macOS) a B<rate> is the rate itself.
if sys.platform == "darwin":
    _VMIN, _VTIME = 16, 17
    _SPEEDS = {}
else:
    _VMIN, _VTIME = 6, 5
    _SPEEDS = {1200: 9, 2400: 11, 4800: 12, 9600: 13, 19200: 14, 38400: 15,
               57600: 0o10001, 115200: 0o10002, 230400: 0o10003}

_CHUNK = 512          # bytes read at a time
_WRITE_WAIT_MS = 2000  # a write nobody reads is dropped after this, as a UART's


def _speed(rate):
    code = getattr(termios, "B%d" % rate, None)
    if code is not None:
        return code
    if sys.platform == "darwin":
        return rate
    if rate not in _SPEEDS:
        raise ValueError("baud rate %d not supported here" % rate)
    return _SPEEDS[rate]


class TtyPort(BufferedPort):
    """write, any, read, readinto and init(baudrate) over the tty at path."""

    def __init__(self, path, baudrate=None):
        super().__init__()
        self.path = path
        self._file = open(path, "r+b")
        self.fd = self._file.fileno()
        termios.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[0] = 0        # iflag: no flow control, no CR/NL mapping
        attrs[6][_VMIN] = 0
        attrs[6][_VTIME] = 0
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self._readable = select.poll()
        self._readable.register(self._file, select.POLLIN)
        self._writable = select.poll()
        self._writable.register(self._file, select.POLLOUT)
        if baudrate:
            self.init(baudrate)

    def init(self, baudrate):
        """Set the line speed, as machine.UART.init(baudrate=...) does."""
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = _speed(baudrate)
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def wait(self, ms):
        """Block until bytes arrive or ms pass; True when some are waiting."""
        if self._pos < len(self._rx):
            return True
        return bool(self._readable.poll(ms))

    def _fetch(self):
        if not self._readable.poll(0):
            return
        try:
            data = self._file.read(_CHUNK)
        except OSError:
            return      # EIO: nobody holds the other side right now
        if data:
            self._received(data)

    def write(self, data):
        view = memoryview(data)
        left = _WRITE_WAIT_MS
        sent = 0
        while sent < len(view):
            if not self._writable.poll(min(left, 50)):
                left -= 50
                if left <= 0:
                    break   # nobody reads: drop, as a UART would
                continue
            n = self._file.write(view[sent:sent + _CHUNK])
            sent += n or 0
        return sent

    def close(self):
        self._file.close()
