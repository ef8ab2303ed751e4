# The terminal's settings, all in one place: the defaults, the board's own
# values (posdiag_config.py on its file system), what a technician may change
# over the link and within which ranges, and those changes kept in flash
# (settings.json) across reboots. Thresholds, pins, ports, host and language
# live here, not in code.
import json

from posdiag import flashfile

FILE = "settings.json"   # the technician's changes, laid over the board's

DEFAULTS = {
    "terminal_id": "POS-0001",
    "lang": "zh",                 # merchant display: "zh" (zh-CN) or "en"
    "budget_ms": 1500,            # a self-test never takes longer than this
    "schedule_s": 86400,          # scheduled self-test period, 0 = off
    # Printer port
    "printer_uart": 1,            # board UART id
    "printer_baud": 9600,
    "printer_tx": None,           # UART pins; None: the port's default
    "printer_rx": None,
    # Wait for each status reply: most printers answer in milliseconds,
    # cheap ones in 50-80 ms, some clones 100-200 ms (healthy all the same).
    "printer_timeout_ms": 250,
    "printer_supported": [],      # accepted GS I model names; empty = any
    # Diagnostics port
    "diag_uart": 0,               # often the REPL's UART: board.run() stops Ctrl-C on it
    "diag_baud": 115200,
    "diag_tx": None,
    "diag_rx": None,
    # Sensor inputs: GPIO numbers, None where not fitted
    "pin_paper_end": None,
    "pin_near_end": None,
    "pin_cover": None,
    "sensor_active_level": 1,
    # Print head thermistor: ADC pin, raw reading -> deci-degrees C for a
    # 10 kOhm NTC (B 3950) to ground with a 10 kOhm pull-up, read_u16 scale.
    "pin_head_adc": None,
    "head_table": [(2563, 1200), (3293, 1100), (4273, 1000), (5596, 900),
                   (7387, 800), (9807, 700), (13049, 600), (17306, 500),
                   (22706, 400), (29202, 300), (36454, 200), (43816, 100),
                   (50511, 0), (55932, -100), (59855, -200)],
    "head_open_above": 64000,     # at the top rail: thermistor open
    "head_short_below": 1000,     # at the bottom rail: shorted
    "head_overheat_dc": 650,      # 65.0 C
    # Supply voltage through a divider: mV = raw * num // den. The default
    # is a 100k/10k divider on a 3.3 V ADC; limits are 24 V +-10 % under load.
    "pin_supply_adc": None,
    "supply_scale_num": 36300,
    "supply_scale_den": 65535,
    "supply_low_mv": 21600,
    "supply_high_mv": 26400,
    "supply_spread_mv": 1200,
    # Settlement host
    "host": "127.0.0.1",
    "host_port": 443,
    "host_timeout_ms": 1000,
    "host_slow_ms": 500,
    "host_echo": b"",             # application echo: bytes sent after connect (b"": none)
    "host_echo_expect": b"",      # the reply expected to start with these bytes
    # E-receipts: the QR link is receipt_url + a 128-bit token, valid this long.
    "receipt_url": "http://127.0.0.1:8080/r/",
    "receipt_ttl_s": 30 * 86400,
    # The posdiag hub the terminal uploads its records and pending receipts
    # to (package posdiag-uploader; docs/hub.md): "" = none. https://HOST[:PORT],
    # or http:// to 127.0.0.1/localhost only. upload_key: the terminal's
    # upload key (hex, from `posdiag hub terminal add`), not the tech_key.
    # upload_budget_ms: the longest one upload may take; the rest waits.
    "hub_url": "",
    "upload_key": "",
    "upload_budget_ms": 300,
    # Technician key (hex, 32 bytes): needed to clear the log, change
    # settings and read pending receipts over the diagnostics link.
    "tech_key": "",
    # Flash
    "log_segments": 8,
    "log_segment_records": 64,
    "journal_segments": 4,
    "journal_segment_records": 16,
    "storage_root": "/posdiag",
}


# Settings a technician may change over the link (posdiag config --set):
# thresholds, host and language, never pins, ports or the key; numbers within
# the range given here.
CHANGEABLE = ("lang", "budget_ms", "schedule_s", "printer_timeout_ms",
              "printer_supported", "head_overheat_dc", "supply_low_mv",
              "supply_high_mv", "supply_spread_mv", "host", "host_port",
              "host_timeout_ms", "host_slow_ms", "receipt_url", "receipt_ttl_s",
              "hub_url", "upload_budget_ms")
RANGES = {
    "budget_ms": (100, 10000),
    "schedule_s": (0, 31 * 86400),
    "printer_timeout_ms": (10, 2000),
    "head_overheat_dc": (300, 1200),
    "supply_low_mv": (1000, 60000),
    "supply_high_mv": (1000, 60000),
    "supply_spread_mv": (0, 20000),
    "host_port": (1, 65535),
    "host_timeout_ms": (50, 10000),
    "host_slow_ms": (1, 10000),
    "receipt_ttl_s": (3600, 366 * 86400),
    "upload_budget_ms": (50, 5000),
}
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def hub_url_ok(url):
    """"" (no hub), https://HOST[:PORT], or http:// to this machine's
    loopback: the uploader refuses plain http to any other host."""
    if url == "":
        return True
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            rest = url[len(scheme):]
            if rest.endswith("/"):
                rest = rest[:-1]
            if not rest or len(url) > 200:
                return False
            for ch in "/@?# ":
                if ch in rest:
                    return False
            i = rest.rfind(":")
            host = rest
            if i > rest.rfind("]"):
                host, port = rest[:i], rest[i + 1:]
                if not port.isdigit() or not 0 < int(port) < 65536:
                    return False
            return scheme == "https://" or host in _LOOPBACK
    return False


def valid(key, value):
    """True when a technician may set key to value over the link."""
    if key not in CHANGEABLE or type(value) is not type(DEFAULTS[key]):
        return False   # exact type: true is not a number of milliseconds
    if key == "lang":
        return value in ("zh", "en")
    if key == "hub_url":
        return hub_url_ok(value)
    if isinstance(value, list):
        for v in value:
            if not isinstance(v, str):
                return False
        return True
    if key in RANGES and isinstance(value, int):
        low, high = RANGES[key]
        return low <= value <= high
    return True


def load(overrides=None):
    """DEFAULTS updated with the board file's CONFIG and then overrides."""
    cfg = dict(DEFAULTS)
    try:
        import posdiag_config  # type: ignore  # optional, per board
        cfg.update(posdiag_config.CONFIG)
    except ImportError:
        pass
    if overrides:
        cfg.update(overrides)
    return cfg


def _kept(storage):
    # The changes made over the link, as kept in flash: {} when there are
    # none or the file is not a JSON object.
    try:
        kept = json.loads(flashfile.read(storage, FILE))
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}


def apply_kept(cfg, storage):
    """Lay the changes made over the link (kept in flash, so they outlive a
    reboot) over cfg; a kept key that may not be changed is ignored."""
    kept = _kept(storage)
    for key in kept:
        if valid(key, kept[key]):
            cfg[key] = kept[key]


def shown(cfg):
    """The settings a technician may change, and whether a key is set
    (never the key itself), as JSON text: the CONFIG_GET answer."""
    out = {"terminal_id": cfg["terminal_id"],
           "tech_key": "(set)" if cfg["tech_key"] else ""}
    for key in CHANGEABLE:
        out[key] = cfg[key]
    return json.dumps(out)


def change(cfg, storage, text):
    """Apply a JSON object of settings (CONFIG_SET) to cfg and keep it in
    flash; the changes, or None (nothing changed) when the text is not a
    JSON object or a key may not be set to its value."""
    try:
        changes = json.loads(text)
    except ValueError:
        return None
    if not isinstance(changes, dict):
        return None
    for key in changes:
        if not valid(key, changes[key]):
            return None
    kept = _kept(storage)
    kept.update(changes)
    flashfile.write_atomic(storage, FILE, json.dumps(kept).encode())
    cfg.update(changes)
    return changes
