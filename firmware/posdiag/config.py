# Defaults for every setting; a board's own values come from posdiag_config.py
# on its file system (see load()). Thresholds, pins, ports, host and language
# live here, not in code.
DEFAULTS = {
    "terminal_id": "POS-0001",
    "lang": "zh",                 # merchant display: "zh" (zh-CN) or "en"
    "printer_uart": 1,            # board UART id of the printer port
    "printer_baud": 9600,
    "printer_timeout_ms": 120,    # cheap printers answer DLE EOT in 50-80 ms
    "diag_uart": 0,
    "diag_baud": 115200,
    "pin_paper_end": None,        # GPIO numbers, None where not fitted
    "pin_near_end": None,
    "pin_cover": None,
    "sensor_active_level": 1,
    "host": "127.0.0.1",          # settlement host
    "host_port": 443,
    "host_timeout_ms": 1000,
    "host_slow_ms": 500,
    "log_segments": 8,
    "log_segment_records": 64,
    "storage_root": "/posdiag",
}


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
