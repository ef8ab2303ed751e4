# Reaching the settlement host, in two steps that never mix: resolve() looks a
# name up (it blocks in the resolver, which has no timeout on MicroPython:
# about 10 s against one that never answers, so call it at idle only), and
# connect() makes the timed TCP connect and optional application echo (bytes
# sent, reply prefix expected) to an IP address, all within one timeout. The
# socket module is handed in (MicroPython's on a board, CPython's in the
# simulator), so the same code runs on both.
import errno
import struct

try:
    from micropython import const
except ImportError:   # CPython: the simulator and the tests
    const = int  # type: ignore[assignment]

# catalog.H_*: the host check's flags
_H_REFUSED = const(0x2)
_H_TIMEOUT = const(0x4)
_H_REJECTS = const(0x10)
_H_ECHO_TIMEOUT = const(0x20)
_H_UNRESOLVED = const(0x40)
_TIMEOUT_ERRNOS = (errno.ETIMEDOUT, errno.EAGAIN)


def _is_timeout(exc):
    code = exc.args[0] if exc.args else None
    # CPython raises TimeoutError("timed out"); MicroPython OSError(ETIMEDOUT).
    return code in _TIMEOUT_ERRNOS or code == "timed out"


def ipv4(text):
    """The 4 bytes of a dotted-quad IPv4 address, or None. Plain code: the
    socket modules of most boards have no inet_pton."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    out = bytearray(4)
    for i in range(4):
        p = parts[i]
        # ASCII digits only, no leading zero (octal to some parsers).
        if not 0 < len(p) <= 3 or (len(p) > 1 and p[0] == "0"):
            return None
        for ch in p:
            if not "0" <= ch <= "9":
                return None
        n = int(p)
        if n > 255:
            return None
        out[i] = n
    return bytes(out)


class TcpProbe:
    def __init__(self, socket_module, clock):
        self._socket = socket_module
        self._clock = clock

    def is_address(self, host):
        """True for an IP literal: it needs no resolver."""
        return self._target(host, 0) is not None

    def resolve(self, host, port):
        """host's address as text. Blocks in the resolver for as long as it
        takes (no timeout on MicroPython): never within a self-test. Raises
        OSError when the name does not resolve."""
        sock_mod = self._socket
        found = sock_mod.getaddrinfo(host, port, 0, sock_mod.SOCK_STREAM)
        if not found:
            raise OSError(errno.ENOENT)
        addr = found[0][-1]
        if isinstance(addr, tuple):     # CPython, lwIP ports: (ip, port, ...)
            return addr[0]
        fam, packed, _ = sock_mod.sockaddr(addr)   # unix port: raw sockaddr
        return sock_mod.inet_ntop(fam, packed)

    def _target(self, ip, port):
        # (family, address for connect) of an IP literal, None for a name.
        sock_mod = self._socket
        fam = sock_mod.AF_INET
        packed = ipv4(ip)
        if packed is None:
            pton = getattr(sock_mod, "inet_pton", None)
            fam = getattr(sock_mod, "AF_INET6", None)
            if pton is None or fam is None or ":" not in ip:
                return None
            try:
                packed = pton(fam, ip)
            except (OSError, ValueError):
                return None
        parse = getattr(sock_mod, "sockaddr", None)
        if parse is None:               # connect takes (ip, port)
            return fam, (ip, port)
        # The unix port's connect takes a raw struct sockaddr: built here as
        # Linux lays it out, or BSD's (length byte first), checked by parsing
        # it back, so the resolver is not needed to make one.
        tail = struct.pack(">H", port) + (packed + bytes(8) if len(packed) == 4
                                          else bytes(4) + packed + bytes(4))
        for head in (struct.pack("<H", fam), bytes((len(tail) + 2, fam))):
            raw = head + tail
            try:
                got = parse(raw)
                if got[0] == fam and got[1] == packed and got[2] == port:
                    return fam, raw
            except (OSError, ValueError, TypeError):
                pass
        return None

    def connect(self, ip, port, timeout_ms, echo=b"", expect=b""):
        """(host flags, connect ms or None, echo ms or None) for the host at
        IP address ip. A name is not looked up here (H_UNRESOLVED)."""
        target = self._target(ip, port)
        if target is None:
            return _H_UNRESOLVED, None, None
        sock_mod = self._socket
        clock = self._clock
        s = sock_mod.socket(target[0], sock_mod.SOCK_STREAM)
        try:
            start = clock.ticks_ms()
            try:
                s.settimeout(timeout_ms / 1000)
                s.connect(target[1])
            except OSError as e:
                return (_H_TIMEOUT if _is_timeout(e) else _H_REFUSED), None, None
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
                    return _H_ECHO_TIMEOUT, rtt, None
                s.settimeout(left / 1000)
                chunk = s.recv(len(expect) - len(reply))
                if not chunk:
                    break      # the host closed the connection
                reply += chunk
        except OSError as e:
            if _is_timeout(e):
                return _H_ECHO_TIMEOUT, rtt, None
            return _H_REJECTS, rtt, None
        took = clock.ticks_diff(clock.ticks_ms(), start)
        if reply != expect:
            return _H_REJECTS, rtt, took
        return 0, rtt, took
