# The settlement host's address, looked up at idle and kept in flash. Name
# lookup blocks with no timeout on MicroPython (about 10 s against a resolver
# that never answers), so no self-test ever resolves: it connects to the
# address the last idle lookup found, or reports that there is none.
import json

from posdiag import flashfile

try:
    from micropython import const
except ImportError:   # CPython: the simulator and the tests
    const = int  # type: ignore[assignment]

_REFRESH_S = const(3600)   # look the name up again hourly: the host may move
_RETRY_S = const(60)       # after a failed lookup; doubles up to _REFRESH_S
_H_DNS = const(0x1)         # catalog.H_DNS
_H_UNRESOLVED = const(0x40)  # catalog.H_UNRESOLVED


class HostAddr:
    """probe: netprobe.TcpProbe (resolve, is_address, connect). A probe
    without resolve() is handed the name as configured (a virtual host)."""

    def __init__(self, storage, probe):
        self._st = storage
        self._probe = probe
        self._resolve = getattr(probe, "resolve", None)
        self._kept = None     # [host, port, ip] from the last good lookup
        self._host = None     # the name the schedule below is for
        self._port = None
        self._next = 0        # uptime s when the next lookup is due
        self._last = None     # uptime s of the last lookup
        self._wait = _RETRY_S
        self._failed = False  # the last lookup of _host failed
        self._stale = False   # the kept address did not answer
        if self._resolve is not None:
            self._load()

    def _load(self):
        try:
            kept = json.loads(flashfile.read(self._st, "hostaddr.json"))
            if (isinstance(kept, list) and len(kept) == 3
                    and isinstance(kept[0], str) and isinstance(kept[1], int)
                    and isinstance(kept[2], str)
                    and self._probe.is_address(kept[2])):
                self._kept = kept
        except (OSError, ValueError):
            pass   # none yet, or damaged: look it up again

    def _needs_lookup(self, host):
        return self._resolve is not None and not self._probe.is_address(host)

    def _kept_ip(self, host, port):
        kept = self._kept
        if kept is not None and kept[0] == host and kept[1] == port:
            return kept[2]
        return None

    def lookup(self, host, port):
        """(address, 0) for the self-test to connect to, without the
        resolver; (None, H_UNRESOLVED) before any lookup of this name and
        port has answered, (None, H_DNS) when the last one failed."""
        if not self._needs_lookup(host):
            return host, 0
        ip = self._kept_ip(host, port)
        if ip is not None:
            return ip, 0
        if self._failed and host == self._host and port == self._port:
            return None, _H_DNS
        return None, _H_UNRESOLVED

    def connect_failed(self):
        """The kept address did not answer: the host may have moved, so look
        it up at the first idle moment the retry limit allows."""
        self._stale = True
        soon = 0 if self._last is None else self._last + _RETRY_S
        if soon < self._next:
            self._next = soon

    def idle(self, host, port, now):
        """Called when nothing else waits (Terminal.tick): looks the name up
        when due. It may block for the resolver's own timeout, hence the
        rate limit. now: uptime s. True when a lookup ran."""
        if host != self._host or port != self._port:
            # First call since boot, or the settings changed. A kept address
            # serves until the hourly refresh; no address: look up now.
            self._host = host
            self._port = port
            self._failed = False
            self._wait = _RETRY_S
            kept = self._kept_ip(host, port) is not None and not self._stale
            self._next = now + _REFRESH_S if kept else now
        resolve = self._resolve
        if now < self._next or resolve is None or self._probe.is_address(host):
            return False
        self._last = now
        try:
            ip = resolve(host, port)
        except (OSError, ValueError):   # ValueError: a name not even valid
            self._failed = True
            self._next = now + self._wait
            self._wait = min(self._wait * 2, _REFRESH_S)
            return True
        self._failed = False
        self._stale = False
        self._wait = _RETRY_S
        self._next = now + _REFRESH_S
        if ip != self._kept_ip(host, port):
            self._kept = [host, port, ip]
            try:   # flash is written only when the address changes
                flashfile.write_atomic(self._st, "hostaddr.json",
                                       json.dumps(self._kept).encode())
            except OSError:
                pass   # kept in RAM: a full flash must not stop the loop
        return True
