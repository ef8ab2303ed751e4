# The technician's key: commands that change the terminal or read receipts
# (they hold transaction data) need an HMAC-SHA256 answer to a fresh
# challenge. Diagnostics records stay readable without it.
#
#   host: CHALLENGE -> nonce (16 random bytes, one use)
#   host: COMMAND with payload = HMAC-SHA256(key, nonce | kind | args) | args
#
# A nonce is good for NONCE_TTL_S after it is given: long enough for the
# host's retries of the command (4 tries of at most 5 s each by default),
# short enough that a nonce nobody used does not wait around for long.
#
# A wrong answer is refused and counted, and each one in a row doubles the
# time before the next challenge is given (1 s, 2 s, 4 s ... at most 64 s; a
# right answer starts the series again): guessing a 256-bit key over a serial
# line is hopeless, and now slow as well.
from posdiag.mac import hmac_sha256

NONCE_LEN = 16
MAC_LEN = 32
NONCE_TTL_S = 60
_MAX_BACKOFF_MS = 64000
MIN_KEY = 16   # bytes: a shorter key is no protection


def key(text):
    """The key from the board's settings (tech_key): hex text of at least
    MIN_KEY bytes. Anything else leaves the terminal without a key (nothing
    that needs one is allowed) rather than failing to start."""
    try:
        k = bytes.fromhex(text) if text else b""
    except ValueError:
        return b""
    return k if len(k) >= MIN_KEY else b""


def _same(a, b):
    # Constant time: how much of a guess is right must not show in timing.
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


class Guard:
    def __init__(self, key, clock, entropy):
        """key: the terminal's technician key (bytes; empty: every
        authenticated command is refused). entropy(n): n random bytes."""
        self._key = key
        self._clock = clock
        self._entropy = entropy
        self._nonce = None
        self._issued_s = 0    # uptime when the latest nonce was given
        self.issued = 0       # challenges given since boot: names the latest
        self._locked_at = None
        self._backoff = 0
        self._streak = 0      # wrong answers since the last right one
        self.failures = 0     # wrong answers since boot (reported)

    def ready(self):
        """True when the terminal can authorise commands at all."""
        return bool(self._key) and self._entropy is not None

    def _locked(self):
        if self._locked_at is None:
            return False
        if self._clock.ticks_diff(self._clock.ticks_ms(), self._locked_at) < self._backoff:
            return True
        self._locked_at = None
        return False

    def challenge(self):
        """A fresh nonce, or None while locked out after wrong answers or
        when the terminal has no key or no source of randomness."""
        if not self.ready() or self._locked():
            return None
        self._nonce = self._entropy(NONCE_LEN)
        self.issued += 1
        self._issued_s = self._clock.uptime_s()
        return self._nonce

    def current(self, issued):
        """True while challenge number `issued` is the latest one and within
        its validity, spent or not (the link's retry cache lives as long)."""
        return (issued == self.issued and self.issued > 0 and
                self._clock.uptime_s() - self._issued_s < NONCE_TTL_S)

    def check(self, kind, payload):
        """The command's arguments when payload starts with the right HMAC
        for the outstanding nonce, else None. The nonce is spent either way."""
        nonce = self._nonce
        self._nonce = None
        if nonce is None or len(payload) < MAC_LEN or not self.current(self.issued):
            return None   # nothing to answer (none given, spent or lapsed)
        args = bytes(payload[MAC_LEN:])
        expected = hmac_sha256(self._key, nonce + bytes((kind,)) + args)
        if _same(expected, payload[:MAC_LEN]):
            self._streak = 0
            return args
        self.failures += 1
        self._streak += 1
        self._backoff = min(_MAX_BACKOFF_MS, 1000 << min(self._streak - 1, 6))
        self._locked_at = self._clock.ticks_ms()
        return None


def answer(key, nonce, kind, args):
    """The host's side: the payload of an authenticated command."""
    return hmac_sha256(key, nonce + bytes((kind,)) + args) + args
