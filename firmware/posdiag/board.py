# Wires the real hardware of a MicroPython board to the terminal. The only
# firmware module that imports machine; nothing happens at import time.
import os
import socket
import time

import machine
import micropython

from posdiag import config
from posdiag.hal import FileStorage, Parts, Sensor
from posdiag.netprobe import TcpProbe
from posdiag.terminal import Terminal


class BoardClock:
    """time.ticks_ms wraps (every 12.4 days on most ports) and ticks_diff is
    right only within half that: uptime is summed from short steps instead,
    so the run loop must call uptime_s() at least every few days."""

    def __init__(self):
        # Uptime counts from here, when board.build() runs in main.py: the
        # time before it (the port's own start-up) is not counted.
        self._last = time.ticks_ms()
        self._uptime_ms = 0

    def uptime_s(self):
        now = time.ticks_ms()
        self._uptime_ms += time.ticks_diff(now, self._last)
        self._last = now
        return self._uptime_ms // 1000

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def unix_time(self):
        # An unset RTC reads as the port's epoch year: treat as unknown.
        now = time.time()
        return now if now > 1600000000 else None


class StdoutDisplay:
    """Fallback display: the REPL console. Boards with a screen pass theirs."""

    def show(self, text):
        print(text)


def _sensor(cfg, key):
    pin = cfg[key]
    if pin is None:
        return None
    return Sensor(machine.Pin(pin, machine.Pin.IN), cfg["sensor_active_level"])


def _adc(cfg, key):
    pin = cfg[key]
    return None if pin is None else machine.ADC(machine.Pin(pin))


def reset_cause():
    """This boot's reset cause as a catalog.RESET_* code: 0 power-on, 1
    brownout, 2 watchdog, 3 soft, 4 other. Ports that know brownouts expose
    machine.BROWNOUT_RESET; the others report them as power-on."""
    cause = machine.reset_cause()
    if cause == getattr(machine, "BROWNOUT_RESET", -1):
        return 1
    if cause == machine.WDT_RESET:
        return 2
    if cause == machine.SOFT_RESET:
        return 3
    if cause == machine.PWRON_RESET:
        return 0
    return 4


def _uart(cfg, prefix):
    # Pins only where the board file names them: the port's defaults else.
    kwargs = {"baudrate": cfg[prefix + "_baud"]}
    for pin in ("tx", "rx"):
        if cfg[prefix + "_" + pin] is not None:
            kwargs[pin] = cfg[prefix + "_" + pin]
    return machine.UART(cfg[prefix + "_uart"], **kwargs)


def _tls():
    """An ssl.SSLContext for an https:// hub that checks its certificate
    against the CA in hub_ca.der beside main.py (DER, the board has no CA
    store); None where the port has no ssl module or no CA is given."""
    try:
        import ssl
    except ImportError:
        return None
    try:
        with open("hub_ca.der", "rb") as f:
            ca = f.read()
    except OSError:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # verify_mode: CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca)
    return ctx


def _uploader_installed():
    try:
        import posdiag.uploader  # noqa: F401 - the package is installed
    except ImportError:
        return False
    return True


def build(cfg=None, display=None):
    cfg = cfg or config.load()
    clock = BoardClock()
    parts = Parts(
        clock,
        FileStorage(cfg["storage_root"]),
        display or StdoutDisplay(),
        printer=_uart(cfg, "printer"),
        paper_end=_sensor(cfg, "pin_paper_end"),
        near_end=_sensor(cfg, "pin_near_end"),
        cover=_sensor(cfg, "pin_cover"),
        head_adc=_adc(cfg, "pin_head_adc"),
        supply_adc=_adc(cfg, "pin_supply_adc"),
        probe=TcpProbe(socket, clock),
        reset_cause=reset_cause(),
        entropy=os.urandom,
    )
    if cfg["hub_url"] and _uploader_installed():
        # The uploader's network: the same socket module, TLS for https.
        parts.net = socket
        parts.tls = _tls()
    terminal = Terminal(cfg, parts)
    try:   # the link package, when the board's manifest has it
        from posdiag.link import LinkServer
    except ImportError:
        return terminal, None
    return terminal, LinkServer(_uart(cfg, "diag"), terminal)


def run():
    """Boot self-test, then serve the diagnostics link (when the board has
    the link package) and the schedule."""
    terminal, link = build()
    if link is not None:
        # The link's binary frames may hold 0x03: on a port whose diagnostics
        # UART is also the REPL's, that byte must not interrupt the firmware.
        micropython.kbd_intr(-1)
    terminal.boot()   # never raises: a failing part is recorded, not fatal
    while True:
        busy = 0
        try:
            if link is not None:
                busy = link.poll()
            if not busy:
                # Also keeps the uptime sum ahead of tick wrap, and looks the
                # settlement host's name up when due (may block ~10 s,
                # rate-limited).
                terminal.tick()
        except Exception:  # noqa: BLE001 - the link must outlive any one request
            pass
        if not busy:
            time.sleep_ms(5)
