# Reaching the settlement host: name lookup, a timed TCP connect and an
# optional application echo (bytes sent, reply prefix expected), all within
# one timeout. The socket module is handed in (MicroPython's on a board,
# CPython's in the simulator), so the same code runs on both. Name lookup
# itself has no timeout on MicroPython: configure the host by address where
# the terminal's DNS is unreliable.
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

    def connect(self, host, port, timeout_ms, echo=b"", expect=b""):
        """(host flags, connect ms or None, echo ms or None)."""
        sock_mod = self._socket
        clock = self._clock
        try:
            addr = sock_mod.getaddrinfo(host, port, 0, sock_mod.SOCK_STREAM)[0][-1]
        except OSError:
            return c.H_DNS, None, None
        s = sock_mod.socket(sock_mod.AF_INET, sock_mod.SOCK_STREAM)
        try:
            start = clock.ticks_ms()
            try:
                s.settimeout(timeout_ms / 1000)
                s.connect(addr)
            except OSError as e:
                return (c.H_TIMEOUT if _is_timeout(e) else c.H_REFUSED), None, None
            rtt = clock.ticks_diff(clock.ticks_ms(), start)
            if not echo:
                return 0, rtt, None
            return self._echo(s, echo, expect, rtt, start, timeout_ms)
        finally:
            s.close()

    def _echo(self, s, echo, expect, rtt, probe_start, timeout_ms):
        # One timeout for the whole probe: each wait gets only what is left,
        # so a host that answers a byte at a time cannot stretch it.
        clock = self._clock
        start = clock.ticks_ms()
        reply = b""
        try:
            s.send(echo)
            while len(reply) < len(expect):
                left = timeout_ms - clock.ticks_diff(clock.ticks_ms(), probe_start)
                if left <= 0:
                    return c.H_ECHO_TIMEOUT, rtt, None
                s.settimeout(left / 1000)
                chunk = s.recv(len(expect) - len(reply))
                if not chunk:
                    break      # the host closed the connection
                reply += chunk
        except OSError as e:
            if _is_timeout(e):
                return c.H_ECHO_TIMEOUT, rtt, None
            return c.H_REJECTS, rtt, None
        took = clock.ticks_diff(clock.ticks_ms(), start)
        if reply != expect:
            return c.H_REJECTS, rtt, took
        return 0, rtt, took
