# The terminal: runs the self-test from its hardware, records the result in
# the log and shows the merchant what to do. Everything it touches is handed
# in (see hal.py); it owns no hardware.
from posdiag import VERSION, catalog, checks, rank, record
from posdiag.log import Log

class Terminal:
    def __init__(self, cfg, printer, sensors, probe, clock, storage, display):
        """sensors: (paper_end, near_end, cover) hal.Sensor or None each."""
        self.cfg = cfg
        self._printer = printer
        self._sensors = sensors
        self._probe = probe
        self.clock = clock
        self._display = display
        self.log = Log(storage, cfg["log_segments"],
                       cfg["log_segment_records"])
        self.printer_identity = None
        self.last_causes = []

    def boot(self):
        """The boot hook: count the boot, run the self-test."""
        self.log.note_boot()
        return self.run_selftest(record.TRIGGER_BOOT)

    def run_checks(self):
        cfg = self.cfg
        clock = self.clock
        paper_end, near_end, cover = self._sensors
        return [
            checks.check_printer(self._printer, clock,
                                 cfg["printer_timeout_ms"]),
            checks.check_paper(paper_end, near_end, cover, clock),
            checks.check_host(self._probe, cfg["host"], cfg["host_port"],
                              cfg["host_timeout_ms"], cfg["host_slow_ms"]),
        ]

    def run_selftest(self, trigger):
        """Run every check, log one record, show the hint; return the record
        bytes as stored."""
        results = self.run_checks()
        clock = self.clock
        uptime = clock.uptime_s()
        now = clock.unix_time()
        boot = self.log.boot

        def encode(seq):
            return record.encode(record.build(seq, boot, uptime, now,
                                              trigger, results))

        _, data = self.log.append(encode)
        self.last_causes = rank.causes(results)
        self.show_hint()
        return data

    def show_hint(self):
        top = self.last_causes[0] if self.last_causes else None
        self._display.show(catalog.hint(top, self.cfg["lang"]))

    def info(self):
        """The terminal item: what never changes between records."""
        oldest, newest = self.log.bounds()
        return {
            "posdiag": record.FORMAT_VERSION,
            "terminal": self.cfg["terminal_id"],
            "firmware": VERSION,
            "printer": self.printer_identity,
            "boot": self.log.boot,
            "oldest": oldest,
            "newest": newest,
            "drops": self.log.drops,
            "torn": self.log.torn,
        }
