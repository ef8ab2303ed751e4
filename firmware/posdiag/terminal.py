# The terminal: runs the self-test from its hardware, records the result in
# the log and shows the merchant what to do. Everything it touches is handed
# in as hal.Parts; it owns no hardware. The core only: the receipt package
# (ereceipt, receipt) is imported when a print fails, the uploader package
# (uploader, hubwire) when there is something to post to a hub, and the link
# package (link, auth) wraps a Terminal from outside, so a board without
# them imports none (docs/firmware.md, Packages).
from posdiag import VERSION, catalog, checks, config, printer, printerid, rank, record
from posdiag.counters import Counters
from posdiag.hostaddr import HostAddr
from posdiag.log import Log

try:
    from micropython import const
except ImportError:   # CPython: the simulator and the tests
    const = int  # type: ignore[assignment]

# catalog.CHECK_*: a record's checks array is indexed by these.
_PRINTER = const(0)
_PAPER = const(1)
_HOST = const(2)
_HEAD = const(3)
_POWER = const(4)
# record.TRIGGER_*
_BOOT = const(0)
_FAILED_PRINT = const(1)
_SCHEDULE = const(3)
# Below this much time left, a check is skipped (null in the record) rather
# than started: the boot must not wait for it.
_MIN_CHECK_MS = const(20)
_MAX_RECEIPT = const(4096)   # receipt.MAX_RECEIPT: the journal's largest entry
_P_UNSUPPORTED = const(0x1000)   # catalog.P_UNSUPPORTED
# catalog.H_DNS | H_REFUSED | H_TIMEOUT | H_REJECTS | H_UNRESOLVED: the host
# check found no working network (as ereceipt.offer reads it)
_H_DOWN = const(0x1 | 0x2 | 0x4 | 0x10 | 0x40)
# Cheapest first: power and head are a few ADC reads, the printer and the
# host may take their timeouts; paper cross-checks the printer's answer.
_CHECK_ORDER = (_POWER, _HEAD, _PRINTER, _PAPER, _HOST)


def _identity_wait(reply_ms, timeout_ms):
    # How long to wait for each identity answer: three times what a status
    # reply took plus a margin, and at least half the status wait: GS I and
    # GS g 2 go through a printer's command parser, slower than DLE EOT, and
    # an answer missed would pass for the answer to the next query.
    return max(3 * reply_ms + 20, timeout_ms // 2)


class Terminal:
    def __init__(self, cfg, parts):
        self.cfg = cfg
        self.parts = parts
        self.clock = parts.clock
        st = parts.storage
        self.log = Log(st, cfg["log_segments"], cfg["log_segment_records"], "d")
        # The pending-receipt journal: filled by failed_print when the
        # receipt package is installed, empty (and cheap) when it is not.
        self.journal = Log(st, cfg["journal_segments"],
                           cfg["journal_segment_records"], "r", _MAX_RECEIPT)
        self.counters = Counters(st)
        self.hostaddr = HostAddr(st, parts.probe)
        config.apply_kept(cfg, st)   # changes made over the link
        self.guard = None   # the link's auth.Guard, set by link.LinkServer
        self.printer_identity = None
        self.printer_counters = None
        self._asked_printer = False   # GS I and GS g 2 asked this boot
        self._printer_answered = False  # all four status replies, last check
        self._reply_ms = 0   # what one status reply took then
        self._owed = [0, 0, 0]  # status replies still owed by the last check (printer.py)
        self.error = None   # the last self-test's [stage, catalog.ERRORS code]
        self.last_results = [None] * 5
        self.last_causes = []
        self._next_scheduled = cfg["schedule_s"] or None
        # The self-test being run: its start and budget (_left), and what
        # its record holds besides the seq (_encode). Kept here rather than
        # in closures, which would allocate a cell for each name.
        self._start = 0
        self._budget = 0
        self._record = ()  # type: tuple
        # The hub uploader (posdiag/uploader.py): None until first needed,
        # False when there is none (no package, no hub_url, no network part
        # or settings it refuses). _upload_due: something may wait for it
        # and the network worked at the last self-test.
        self.uploader = None  # type: object
        self._upload_due = False

    # -- triggers ----------------------------------------------------------
    def boot(self):
        """The boot hook: count the boot, run the self-test within the boot
        time budget, learn who the printer is if it answers. Never raises:
        the board goes on to serve the link whatever happens here."""
        self._asked_printer = False
        try:
            self.log.note_boot()
        except Exception:  # noqa: BLE001 - the self-test records the flash failing
            pass
        return self.run_selftest(_BOOT)

    def failed_print(self, receipt_fields):
        """The POS application's call after a print failed. The receipt goes
        to the pending-receipt journal first (card data masked or refused:
        receipt.ReceiptError, nothing stored), with a link token; then the
        self-test runs, its record names the journal entry, and the screen
        offers the customer the e-receipt as a QR code. Returns the journal
        seq (ereceipt.failed_print). Without the receipt package nothing is
        kept (card data could not be masked) and no e-receipt offered: the
        self-test runs, its record names no entry, and None is returned."""
        try:
            from posdiag import ereceipt
        except ImportError:
            self.run_selftest(_FAILED_PRINT)
            self._upload_due = self._upload_due or self._network_up()
            return None
        seq = ereceipt.failed_print(self, receipt_fields)
        if self._network_up():
            # The receipt to the hub at once (its QR code is on the screen
            # already), so the link answers when the customer scans it.
            self.upload(bypass_backoff=True)
        return seq

    def note_print(self, paper_mm=0, cuts=0, energized=0):
        """The POS application's call after a print: wear counters."""
        self.counters.add(paper_mm, cuts, energized)

    def tick(self):
        """Called from the board's loop: the scheduled self-test, if due.
        Reading the uptime here also keeps the board clock's sum current."""
        cfg = self.cfg
        now = self.clock.uptime_s()
        if self._printer_answered and not self._asked_printer:
            # Identity not asked within the self-test's budget (a slow
            # printer): ask now, with the full timeout for each answer.
            try:
                self._learn_printer(max(cfg["printer_timeout_ms"],
                                        _identity_wait(self._reply_ms, 0)))
            except Exception:  # noqa: BLE001 - the next boot asks again
                pass
        due = self._next_scheduled
        if due is None or now < due:
            # Idle: the one moment a name lookup (it may block ~10 s) may run.
            try:
                self.hostaddr.idle(cfg["host"], cfg["host_port"], now)
            except Exception:  # noqa: BLE001 - a resolver's odd answer must not stop the loop
                pass
            if self._upload_due:   # the rest of an upload, or a retry once due
                self.upload(resolve=True)
            return None
        period = cfg["schedule_s"]
        self._next_scheduled = now + period if period else None
        return self.run_selftest(_SCHEDULE)

    # -- the self-test -------------------------------------------------------
    def run_checks(self, trigger, budget_ms):
        """Every check the terminal has parts for, cheapest first, each
        given only the time left in budget_ms. A check that did not run is
        None. A check that raised is None too and self.error says which and
        what ([check, catalog.ERRORS code]): one failing part must not hide what
        the others saw, nor stop the boot before the link."""
        self._start = self.clock.ticks_ms()
        self._budget = budget_ms
        self.error = None
        results = [None] * 5
        for check in _CHECK_ORDER:
            try:
                results[check] = self._run_check(check, trigger, results)
            except Exception as e:  # noqa: BLE001 - recorded, never raised
                if self.error is None:
                    self.error = [check, record.error_code(e)]
        return results

    def _left(self):
        # Milliseconds of the self-test's budget still left.
        clock = self.clock
        return self._budget - clock.ticks_diff(clock.ticks_ms(), self._start)

    def _run_check(self, check, trigger, results):
        cfg = self.cfg
        parts = self.parts
        clock = self.clock
        if check == _POWER:
            adc = parts.supply_adc
            if adc is None:
                return None
            return checks.check_power(
                adc, clock, cfg["supply_scale_num"], cfg["supply_scale_den"],
                cfg["supply_low_mv"], cfg["supply_high_mv"], cfg["supply_spread_mv"],
                parts.reset_cause if trigger == _BOOT else None)
        if check == _HEAD:
            adc = parts.head_adc
            if adc is None:
                return None
            return checks.check_head(
                adc, clock, cfg["head_table"], cfg["head_open_above"],
                cfg["head_short_below"], cfg["head_overheat_dc"])
        if check == _PRINTER:
            return self._check_printer()
        if check == _PAPER:
            found = results[_PRINTER]
            return checks.check_paper(parts.paper_end, parts.near_end,
                                      parts.cover, clock,
                                      None if found is None else found[0])
        if parts.probe is None or self._left() <= _MIN_CHECK_MS:
            return None
        return checks.check_host(
            parts.probe, self.hostaddr, cfg["host"], cfg["host_port"],
            min(cfg["host_timeout_ms"], self._left() - _MIN_CHECK_MS // 2),
            cfg["host_slow_ms"], cfg["host_echo"], cfg["host_echo_expect"])

    def _check_printer(self):
        cfg = self.cfg
        port = self.parts.printer
        if port is None or self._left() <= _MIN_CHECK_MS:
            return None
        # No reply costs two timeouts; the baud scan for a garbled link may
        # use half of what is left, the rest is the host check's.
        timeout = min(cfg["printer_timeout_ms"], self._left() // 4)
        result = printer.check_printer(port, self.clock, timeout,
                                       cfg["printer_baud"], self._left() // 2,
                                       self._owed)
        self._printer_answered = printer.answered(result[0])
        if self._printer_answered:
            self._reply_ms = result[2] // 4
            if not self._asked_printer:
                # In the self-test quickly (a printer that ignores GS I or
                # GS g 2 is asked the first of each only) when two waits fit
                # in half of what is left; in full at the next idle tick.
                wait = _identity_wait(self._reply_ms, timeout)
                if 2 * wait <= self._left() // 2:
                    try:
                        self._learn_printer(wait, True)
                    except Exception as e:  # noqa: BLE001 - keep the status replies
                        self.error = self.error or [_PRINTER, record.error_code(e)]
            if printerid.unsupported(self.printer_identity,
                                     cfg["printer_supported"]):
                result[0] |= _P_UNSUPPORTED
        return result

    def _learn_printer(self, wait, quick=False):
        # Identity and counters once per boot: a printer that does not
        # support them is not asked again until reboot. Asked quickly (in a
        # self-test), a kind the printer did not answer is asked in full at
        # idle.
        self._asked_printer = True
        port = self.parts.printer
        clock = self.clock
        self.printer_identity = printerid.identify(port, clock, wait, quick)
        self.printer_counters = printerid.read_counters(port, clock, wait, quick)
        if quick and (self.printer_identity is None or self.printer_counters is None):
            self._asked_printer = False

    def run_selftest(self, trigger, receipt_seq=None, budget_ms=None):
        """Run every check, log one record, show the hint; return the record
        bytes as stored (None when not even a record of the failure could be
        written). Never raises: whatever a part or the flash does, the
        caller (the boot, the link, the POS application) goes on."""
        if budget_ms is None:
            budget_ms = self.cfg["budget_ms"]
        results = self.run_checks(trigger, budget_ms)
        error = self.error
        data = None
        try:
            data = self._log_record(trigger, results, receipt_seq, error)
        except Exception as e:  # noqa: BLE001 - recorded below
            error = [record.STAGE_RECORD, record.error_code(e)]
            try:   # the failure itself, at least
                data = self._log_record(trigger, [None] * 5, receipt_seq, error)
            except Exception:  # noqa: BLE001 - the flash itself fails
                pass
        self.error = error
        self.last_results = results
        if trigger != _FAILED_PRINT and self._network_up():
            self._upload_due = True   # at the next idle tick: never in a sale
        try:
            self.last_causes = rank.causes(results, error is not None)
        except Exception:  # noqa: BLE001
            self.last_causes = [catalog.INTERNAL_ERROR]
        try:
            self.show_hint()
        except Exception:  # noqa: BLE001 - a broken screen must not stop the link
            pass
        return data

    def _log_record(self, trigger, results, receipt_seq, error):
        clock = self.clock
        uptime = clock.uptime_s()
        now = clock.unix_time()
        counters = None
        if trigger == _SCHEDULE:
            self.counters.save()
            counters = list(self.counters.values)
        self._record = (self.log.boot, uptime, now, trigger, results,
                        receipt_seq, counters, error)
        return self.log.append(self._encode)[1]

    def _encode(self, seq):
        # The record _log_record describes, once the log gives it its seq.
        r = self._record
        return record.encode(record.build(seq, r[0], r[1], r[2], r[3], r[4],
                                          r[5], r[6], r[7]))

    # -- uploads to the hub ----------------------------------------------------
    def _network_up(self):
        # The last self-test's host check connected (or the board has no
        # probe to tell): worth trying the hub.
        if self.parts.probe is None:
            return True
        host = self.last_results[_HOST]
        return host is not None and not host[0] & _H_DOWN

    def _uploader(self):
        up = self.uploader
        if up is None:
            up = False
            if self.cfg["hub_url"] and self.parts.net is not None:
                try:
                    from posdiag.uploader import Uploader
                    up = Uploader(self.cfg, self.parts, self.log, self.journal, self.info)
                except (ImportError, ValueError):
                    up = False   # no package, or settings it cannot use
            self.uploader = up
        return up

    def upload(self, resolve=False, bypass_backoff=False):
        """Post what waits (pending receipts first, then records past the
        upload cursor) to the hub, for at most upload_budget_ms; what is
        left waits for the next idle tick. resolve: the hub's name may be
        looked up (it may block: idle only). True when nothing is left,
        None without an uploader. Never raises."""
        up = self._uploader()
        if not up:
            self._upload_due = False
            return None
        try:
            done = up.run(self.cfg["upload_budget_ms"], resolve, bypass_backoff)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - the flash or a part failed: the next chance tries again
            done = False
        self._upload_due = not done
        return done

    def show_hint(self):
        causes = self.last_causes
        self.parts.display.show(catalog.hint(causes[0] if causes else None,
                                             self.cfg["lang"]))

    # -- settings a technician changes over the link (config.py) ----------
    def settings_json(self):
        """CONFIG_GET's answer: config.shown."""
        return config.shown(self.cfg)

    def change_settings(self, text):
        """CONFIG_SET: apply and keep a JSON object of settings (config.change);
        False (nothing changed) when a key may not be set to its value."""
        changes = config.change(self.cfg, self.parts.storage, text)
        if changes is None:
            return False
        if "hub_url" in changes:
            self.uploader = None   # made again with the new hub
        if "schedule_s" in changes:   # the new period counts from now
            period = changes["schedule_s"]
            self._next_scheduled = self.clock.uptime_s() + period if period else None
        return True

    # -- what the link reports -------------------------------------------
    def recover_printer(self, mode):
        """The recovery request (DLE ENQ), on a technician's request only."""
        printer.recover(self.parts.printer, mode)

    def info(self):
        """The terminal item: what never changes between records."""
        log = self.log
        oldest, newest = log.bounds()
        pending = self.journal.count()   # without reading the receipts
        guard = self.guard
        return {
            "posdiag": record.FORMAT_VERSION,
            "terminal": self.cfg["terminal_id"],
            "firmware": VERSION,
            "printer": self.printer_identity,
            "boot": log.boot,
            "oldest": oldest,
            "newest": newest,
            "drops": log.drops,
            "torn": log.torn,
            "auth_failures": guard.failures if guard else 0,
            "receipts": pending,
            "counters": list(self.counters.values),
            "printer_counters": self.printer_counters,
        }
