# Reaching the settlement host with a TCP connect, timed. The socket module
# is handed in (MicroPython's on a board, CPython's in the simulator), so the
# same code runs on both.
import errno

from posdiag import catalog as c

_TIMEOUT_ERRNOS = (errno.ETIMEDOUT, errno.EAGAIN)


def _is_timeout(exc):
    code = exc.args[0] if exc.args else None
    # CPython raises TimeoutError("timed out"); MicroPython OSError(ETIMEDOUT).
    return code in _TIMEOUT_ERRNOS or code == "timed out"


class TcpProbe:
    def __init__(self, socket_module, clock):
        self._socket = socket_module
        self._clock = clock

    def connect(self, host, port, timeout_ms):
        """(host flags, rtt ms or None) for one connect attempt."""
        sock_mod = self._socket
        try:
            addr = sock_mod.getaddrinfo(host, port, 0, sock_mod.SOCK_STREAM)[0][-1]
        except OSError:
            return c.H_DNS, None
        s = sock_mod.socket(sock_mod.AF_INET, sock_mod.SOCK_STREAM)
        start = self._clock.ticks_ms()
        try:
            s.settimeout(timeout_ms / 1000)
            s.connect(addr)
        except OSError as e:
            return (c.H_TIMEOUT if _is_timeout(e) else c.H_REFUSED), None
        finally:
            s.close()
        return 0, self._clock.ticks_diff(self._clock.ticks_ms(), start)
