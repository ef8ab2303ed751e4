"""The fleet's lists and charts, read from the summaries kept at ingest
(migrations/0002_fleet.sql; rules in docs/fleet.md). Each method reads a
few summary rows, never the whole log; only a terminal's own page reads
its newest records. Plain dicts and lists come out, for the pages, the
JSON and the CSV alike."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from host_tools import catalog_names as names
from host_tools.diagnosis import describe_checks, record_causes
from host_tools.findings import analyse
from host_tools.fleet import ingest, summary
from host_tools.fleet.summary import COLUMNS
from host_tools.hub.store import Store
from host_tools.records import clean_terminal, decode_item, decode_record
from posdiag import record as r

LIGHTS = ("fault", "warning", "healthy", "silent")
TIMELINE = 200  # records on a terminal's page
TERMINAL_ROW = (  # a terminal's row in the lists, the API and the CSV, in this order
    "terminal",
    "merchant",
    "light",
    "top_cause",
    "category",
    "model",
    "firmware",
    "last_seen",
    "last_time",
    "records",
)

# The columns each list reads (terminal_state), no more.
_PAPER = ("terminal", "merchant", "p0_time", "p0_mm", "p1_time", "p1_mm", "roll_mm")
_SERVICE = (
    "terminal",
    "merchant",
    "model",
    "head_mm",
    "cuts",
    "printer_cuts",
    "overheats",
    "silences",
    "power_events",
)
_LOOSE = 1 - 1e-9  # a threshold in SQL, a hair lower: the exact rule is applied again in Python
_CHUNK = 500  # merchants per IN list


class SettingError(ValueError):
    """A setting that does not exist or a value it cannot take."""


def _page(limit: int | None, offset: int) -> tuple[str, tuple]:
    """A LIMIT/OFFSET clause and its values: none (the whole list) when limit is None."""
    if limit is None:
        return "", ()
    return " LIMIT ? OFFSET ?", (limit, offset)


def _like(text: str) -> str:
    """A LIKE pattern that finds text anywhere, its own % and _ taken literally."""
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Fleet:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def _read(self, work: Callable[[Callable[..., Any]], Any]) -> Any:
        return self.store.transaction(work, False)

    def _now(self) -> int:
        return int(self.clock())

    # -- settings -------------------------------------------------------------------------------

    def settings(self) -> dict[str, float]:
        return dict(self._read(ingest.settings))

    def set(self, name: str, value: float) -> None:
        """Change a threshold; the stored paper forecasts follow a new roll length."""
        if name not in summary.DEFAULTS:
            raise SettingError(f"no fleet setting {name!r}: the settings are {', '.join(summary.DEFAULTS)}")
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise SettingError(f"{name} takes a number above 0, not {value!r}")

        def work(ex: Callable[..., Any]) -> None:
            ex(
                "INSERT INTO fleet_settings (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, float(value)),
            )
            if name == "roll_m":
                for row in self._rows(ex, "WHERE roll_mm IS NOT NULL"):
                    runs_out = summary.paper_forecast(row, float(value))["runs_out"]
                    ex("UPDATE terminal_state SET runs_out = ? WHERE terminal = ?", (runs_out, row["terminal"]))

        self.store.transaction(work)
        self.store.fleet_cache.clear()  # this process's uploads use it at once

    @staticmethod
    def _rows(ex: Callable[..., Any], where: str = "", params: tuple = ()) -> list[dict]:
        got = ex(f"SELECT {', '.join(COLUMNS)} FROM terminal_state {where}", params).fetchall()
        return [dict(zip(COLUMNS, row, strict=True)) for row in got]

    # -- now ------------------------------------------------------------------------------------

    def terminals(
        self,
        light: str | None = None,
        q: str | None = None,
        model: str | None = None,
        firmware: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict:
        """Every terminal as a traffic light, worst first, with filters."""
        now = self._now()

        def work(ex: Callable[..., Any]) -> dict:
            cutoff = now - ingest.settings(ex)["silent_after_h"] * 3600
            shown = "CASE WHEN last_seen < ? THEN 'silent' ELSE light END"
            counts = dict.fromkeys(LIGHTS, 0)
            for name, n in ex(f"SELECT {shown} AS l, COUNT(*) FROM terminal_state GROUP BY l", (cutoff,)).fetchall():
                counts[name] = int(n)
            where: list[str] = ["1 = 1"]
            params: list[object] = [cutoff]
            if light == "silent":
                where.append("last_seen < ?")
                params.append(cutoff)
            elif light:
                where.append("light = ? AND last_seen >= ?")
                params += [light, cutoff]
            if q:
                where.append("(LOWER(terminal) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(merchant, '')) LIKE ? ESCAPE '\\')")
                params += [_like(q), _like(q)]
            _model_filter(where, params, model, firmware)
            cond = " AND ".join(where)
            total = ex(f"SELECT COUNT(*) FROM terminal_state WHERE {cond}", params[1:]).fetchone()[0]
            order = (
                "CASE WHEN last_seen < ? THEN 2 WHEN light = 'fault' THEN 0 WHEN light = 'warning' THEN 1 ELSE 3 END"
            )
            got = ex(
                f"SELECT {shown}, terminal, merchant, top_cause, category, model, firmware, last_seen, last_time, "
                f"records FROM terminal_state WHERE {cond} ORDER BY {order}, terminal LIMIT ? OFFSET ?",
                [cutoff, *params[1:], cutoff, limit, offset],
            ).fetchall()
            rows = [
                {
                    "terminal": t,
                    "merchant": m,
                    "light": shown_light,
                    "top_cause": cause,
                    "category": cat,
                    "model": mod,
                    "firmware": fw,
                    "last_seen": seen,
                    "last_time": last,
                    "records": int(n),
                }
                for shown_light, t, m, cause, cat, mod, fw, seen, last, n in got
            ]
            return {"counts": counts, "total": int(total), "terminals": rows}

        return dict(self._read(work))

    def terminal(self, terminal: str, lang: str = "en") -> dict | None:
        """One terminal's page: its summary, newest records, readings over
        time, findings over those records, receipts and service reasons."""
        now = self._now()

        def work(ex: Callable[..., Any]) -> tuple | None:
            rows = self._rows(ex, "WHERE terminal = ?", (terminal,))
            if not rows:
                return None
            conf = ingest.settings(ex)
            raws = ex(
                "SELECT raw FROM records WHERE terminal = ? ORDER BY seq DESC LIMIT ?", (terminal, TIMELINE)
            ).fetchall()
            info = ex("SELECT info FROM terminals WHERE terminal = ?", (terminal,)).fetchone()
            on_hub = ex("SELECT COUNT(*) FROM receipts WHERE terminal = ?", (terminal,)).fetchone()[0]
            return rows[0], conf, [bytes(x[0]) for x in raws], info[0] if info else None, int(on_hub)

        got = self._read(work)
        if got is None:
            return None
        row, conf, raws, info, on_hub = got
        cutoff = now - conf["silent_after_h"] * 3600
        out = {key: row[key] for key in TERMINAL_ROW if key != "light"}
        out["light"] = "silent" if row["last_seen"] < cutoff else row["light"]
        timeline, readings = _timeline(raws)
        item: dict = {"terminal": terminal}
        if info is not None:
            value, _ = decode_item(bytes(info), "the terminal item")
            if isinstance(value, dict):
                item = clean_terminal(value)
        out["timeline"] = timeline
        out["readings"] = readings
        out["paper"] = summary.paper_forecast(row, conf["roll_m"])
        out["findings"] = [f.as_json(lang) for f in analyse(list(reversed(raws)), item, conf["roll_m"])]
        out["receipts"] = {"on_hub": on_hub, "pending_on_terminal": row["pending_receipts"]}
        out["service"] = summary.service_reasons(row)
        return out

    # -- causes over time -----------------------------------------------------------------------

    def causes(
        self, days: int = 30, by: str = "category", model: str | None = None, firmware: str | None = None
    ) -> dict:
        """Records with each cause (or category) per day, over the last days."""
        if by not in ("category", "cause"):
            raise ValueError("by is category or cause")
        today = dt.datetime.fromtimestamp(self._now(), dt.timezone.utc).date()
        day_list = [(today - dt.timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]

        def work(ex: Callable[..., Any]) -> tuple:
            where: list[str] = ["day >= ?"]
            params: list[object] = [day_list[0]]
            _model_filter(where, params, model, firmware)
            got = ex(
                f"SELECT day, {by}, SUM(records) FROM cause_days WHERE {' AND '.join(where)} GROUP BY day, {by}",
                params,
            ).fetchall()
            return got, *_choices(ex)

        got, models, firmwares = self._read(work)
        index = {day: i for i, day in enumerate(day_list)}
        series: dict[str, list[int]] = {}
        for day, key, n in got:
            if day in index:
                series.setdefault(key, [0] * days)[index[day]] = int(n)
        order = names.CATEGORIES if by == "category" else tuple(c.id for c in names.CAUSES.values())
        return {
            "days": day_list,
            "series": [{"name": key, "counts": series[key]} for key in order if key in series],
            "models": models,
            "firmwares": firmwares,
        }

    def choices(self) -> dict[str, list[str]]:
        """The printer models and firmware versions the fleet's terminals
        have now, for filters (one row per terminal read, never the log)."""
        models, firmwares = self._read(_choices)
        return {"models": models, "firmwares": firmwares}

    # -- the lists --------------------------------------------------------------------------------

    def paper(self, limit: int = 500, offset: int = 0) -> dict:
        """The consumables plan: rolls running out soonest (limit of them from
        offset, and how many there are), and the merchants to ship paper to
        (docs/fleet.md). Rows come in the order of the forecast stored at
        ingest (runs_out); the forecast's figures are worked out again only
        for the rows listed, from the columns they rest on."""
        now = self._now()
        cols = ", ".join(_PAPER)

        def work(ex: Callable[..., Any]) -> tuple:
            conf = ingest.settings(ex)
            total = ex("SELECT COUNT(*) FROM terminal_state WHERE runs_out IS NOT NULL").fetchone()[0]
            rows = ex(
                f"SELECT {cols} FROM terminal_state WHERE runs_out IS NOT NULL ORDER BY runs_out, terminal "
                "LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
            ship_rows = ex(
                f"SELECT {cols} FROM terminal_state WHERE runs_out <= ? ORDER BY merchant, runs_out, terminal",
                (now + conf["ship_within_days"] * 86400,),
            ).fetchall()
            return conf, int(total), rows, ship_rows

        conf, total, rows, ship_rows = self._read(work)
        roll_m = conf["roll_m"]
        forecasts: dict[str, dict] = {}

        def forecast(row: tuple) -> dict:
            f = forecasts.get(row[0])
            if f is None:
                f = forecasts[row[0]] = summary.paper_forecast(dict(zip(_PAPER, row, strict=True)), roll_m)
            return f

        terminals = []
        for row in rows:
            f = forecast(row)
            days_left = None if f["runs_out"] is None else (f["runs_out"] - now) / 86400
            terminals.append({"terminal": row[0], "merchant": row[1], **f, "days_left": days_left})
        ship: dict[str | None, dict] = {}
        cover = conf["cover_days"]
        for row in ship_rows:
            f = forecast(row)
            runs_out = f["runs_out"]
            if runs_out is None:
                continue
            rolls = max(1, math.ceil((f["per_day_m"] or 0) * cover / roll_m))
            merchant = row[1]
            entry = ship.get(merchant)
            if entry is None:
                entry = ship[merchant] = {"merchant": merchant, "terminals": [], "rolls": 0, "runs_out": runs_out}
            entry["terminals"].append(row[0])
            entry["rolls"] += rolls
            entry["runs_out"] = min(entry["runs_out"], runs_out)
        settings = {k: conf[k] for k in ("roll_m", "ship_within_days", "cover_days")}
        ordered = sorted(ship.values(), key=lambda e: (e["runs_out"], e["merchant"] or ""))
        return {"terminals": terminals, "total": total, "ship": ordered, "settings": settings}

    def training(self) -> dict:
        """Merchants whose terminals show operator causes more often than the
        fleet's norm, with what to train on. SQL keeps the merchants that can
        be listed (a little generously: the rule is checked again here, in
        the same arithmetic as ever) and counts operator causes for those."""
        operator = sorted(names.CAUSES[code].id for code in summary.OPERATOR_CAUSES)

        def work(ex: Callable[..., Any]) -> tuple:
            conf = ingest.settings(ex)
            records, events = ex("SELECT SUM(records), SUM(operator_events) FROM terminal_state").fetchone()
            records, events = int(records or 0), int(events or 0)
            norm = events / records if records else 0.0
            if not norm:
                return conf, norm, [], []
            merchants = ex(
                "SELECT merchant, COUNT(*), SUM(records), SUM(operator_events) FROM terminal_state "
                "WHERE merchant IS NOT NULL GROUP BY merchant "
                "HAVING SUM(operator_events) >= ? AND SUM(operator_events) >= ? * SUM(records)",
                (conf["training_min_events"], conf["training_factor"] * norm * _LOOSE),
            ).fetchall()
            causes: list = []
            marks = ", ".join("?" * len(operator))
            listed = [m[0] for m in merchants]
            for i in range(0, len(listed), _CHUNK):
                chunk = listed[i : i + _CHUNK]
                # CROSS JOIN: SQLite walks the listed merchants' terminals and looks
                # their causes up by key, where it would scan every terminal's causes
                causes += ex(
                    "SELECT s.merchant, c.cause, SUM(c.records) FROM terminal_state s "
                    "CROSS JOIN terminal_causes c "
                    f"WHERE c.terminal = s.terminal AND s.merchant IN ({', '.join('?' * len(chunk))}) "
                    f"AND c.cause IN ({marks}) "
                    "GROUP BY s.merchant, c.cause",
                    [*chunk, *operator],
                ).fetchall()
            return conf, norm, merchants, causes

        conf, norm, merchants, causes = self._read(work)
        by_merchant: dict[str, list[dict]] = defaultdict(list)
        for merchant, cause, n in causes:
            by_merchant[merchant].append({"cause": cause, "count": int(n)})
        listed = []
        for merchant, terminals, recs, ev in merchants:
            recs, ev = int(recs), int(ev)
            if merchant is None or not recs or ev < conf["training_min_events"]:
                continue
            rate = ev / recs
            if norm and rate >= conf["training_factor"] * norm:
                topics = sorted(by_merchant[merchant], key=lambda x: (-x["count"], x["cause"]))
                listed.append(
                    {
                        "merchant": merchant,
                        "terminals": int(terminals),
                        "records": recs,
                        "events": ev,
                        "rate": rate,
                        "ratio": rate / norm,
                        "causes": topics,
                    }
                )
        listed.sort(key=lambda m: (-m["ratio"], m["merchant"]))
        return {"norm": norm, "merchants": listed}

    def service(self, limit: int | None = None, offset: int = 0) -> list[dict]:
        """Printers to replace or visit before they fail, most urgent first:
        all of them, or limit from offset."""
        return list(self.service_page(limit, offset)["service"])

    def service_page(self, limit: int | None = None, offset: int = 0) -> dict:
        """The service list (limit rows from offset; all when limit is None)
        and how many terminals it has. SQL orders the terminals by the
        urgency stored at ingest (the highest reason's score, NULL with no
        reason) and reads only the rows listed; their reasons are worked
        out here from the columns they rest on."""
        clause, params = _page(limit, offset)

        def work(ex: Callable[..., Any]) -> tuple:
            total = ex("SELECT COUNT(*) FROM terminal_state WHERE service_urgency IS NOT NULL").fetchone()[0]
            rows = ex(
                f"SELECT {', '.join(_SERVICE)} FROM terminal_state WHERE service_urgency IS NOT NULL "
                f"ORDER BY service_urgency DESC, terminal{clause}",
                params,
            ).fetchall()
            return int(total), rows

        total, got = self._read(work)
        out = []
        for values in got:
            row = dict(zip(_SERVICE, values, strict=True))
            reasons = summary.service_reasons(row)
            out.append(
                {
                    "terminal": row["terminal"],
                    "merchant": row["merchant"],
                    "model": row["model"],
                    "urgency": max(x["score"] for x in reasons),
                    "reasons": reasons,
                }
            )
        return {"total": total, "service": out}

    def silent(self, limit: int | None = None, offset: int = 0) -> list[dict]:
        """Terminals that stopped reporting, longest silent first: all of
        them, or limit from offset."""
        return list(self.silent_page(limit, offset)["silent"])

    def silent_page(self, limit: int | None = None, offset: int = 0) -> dict:
        """The silent terminals (limit rows from offset; all when limit is
        None) and how many there are."""
        now = self._now()
        clause, params = _page(limit, offset)

        def work(ex: Callable[..., Any]) -> tuple:
            cutoff = now - ingest.settings(ex)["silent_after_h"] * 3600
            total = ex("SELECT COUNT(*) FROM terminal_state WHERE last_seen < ?", (cutoff,)).fetchone()[0]
            rows = ex(
                "SELECT terminal, merchant, last_seen FROM terminal_state WHERE last_seen < ? "
                f"ORDER BY last_seen, terminal{clause}",
                (cutoff, *params),
            ).fetchall()
            return int(total), rows

        total, got = self._read(work)
        rows = [
            {"terminal": t, "merchant": m, "last_seen": seen, "silent_h": (now - seen) / 3600} for t, m, seen in got
        ]
        return {"total": total, "silent": rows}

    # -- alerts ---------------------------------------------------------------------------------

    def alerts(self, open_only: bool = False, limit: int = 500) -> list[dict]:
        where = "WHERE acked_by IS NULL " if open_only else ""

        def work(ex: Callable[..., Any]) -> list:
            return list(
                ex(
                    "SELECT id, kind, terminal, model, cause, raised, detail, delivered, acked_by, acked_at "
                    "FROM alerts "
                    f"{where}ORDER BY raised DESC, id LIMIT ?",
                    (limit,),
                ).fetchall()
            )

        return [
            {
                "id": i,
                "kind": kind,
                "terminal": t,
                "model": m,
                "cause": cause,
                "raised": raised,
                "detail": json.loads(detail),
                "delivered": delivered is not None,
                "acked_by": by,
                "acked_at": at,
            }
            for i, kind, t, m, cause, raised, detail, delivered, by, at in self._read(work)
        ]

    def alert_counts(self) -> dict[tuple[str, str], int]:
        """(kind, "true"/"false" acknowledged) -> alerts, for /metrics."""
        got = self._read(
            lambda ex: ex(
                "SELECT kind, CASE WHEN acked_by IS NULL THEN 'false' ELSE 'true' END AS a, COUNT(*) "
                "FROM alerts GROUP BY kind, a"
            ).fetchall()
        )
        return {(kind, acked): int(n) for kind, acked, n in got}

    def ack(self, alert_id: str, operator: str) -> bool:
        """Acknowledge an alert; False when there is no such alert. A second
        acknowledgement keeps the first one's name and time."""
        now = self._now()

        def work(ex: Callable[..., Any]) -> bool:
            ex(
                "UPDATE alerts SET acked_by = ?, acked_at = ? WHERE id = ? AND acked_by IS NULL",
                (operator, now, alert_id),
            )
            return ex("SELECT 1 FROM alerts WHERE id = ?", (alert_id,)).fetchone() is not None

        return bool(self.store.transaction(work))


def _model_filter(where: list[str], params: list[object], model: str | None, firmware: str | None) -> None:
    """A printer model and firmware version to narrow a query to, if given."""
    if model:
        where.append("model = ?")
        params.append(model)
    if firmware:
        where.append("firmware = ?")
        params.append(firmware)


def _choices(ex: Callable[..., Any]) -> tuple[list[str], list[str]]:
    models = [m for (m,) in ex("SELECT DISTINCT model FROM terminal_state ORDER BY model").fetchall()]
    firmwares = [f for (f,) in ex("SELECT DISTINCT COALESCE(firmware, '') FROM terminal_state ORDER BY 1").fetchall()]
    return models, firmwares


def _timeline(raws: list[bytes]) -> tuple[list[dict], dict[str, list]]:
    """Newest-first records as the timeline; readings oldest first for charts."""
    timeline = []
    readings: dict[str, list] = {"time": [], "head_c": [], "supply_v": [], "host_ms": [], "printer_ms": []}
    decoded = [decode_record(raw) for raw in raws]
    for rec in decoded:
        causes = record_causes(rec)
        timeline.append(
            {
                "seq": rec[r.K_SEQ],
                "time": rec.get(r.K_TIME),
                "trigger": r.TRIGGERS[rec.get(r.K_TRIGGER, 0)]
                if rec.get(r.K_TRIGGER, 0) < len(r.TRIGGERS)
                else "unknown",
                "causes": [names.cause_id(code) for code in causes],
                "light": summary.light_of(causes),
            }
        )
    for rec in reversed(decoded):
        if r.K_TIME not in rec:
            continue
        checks = describe_checks(rec[r.K_CHECKS])
        head, power, host, printer = (checks.get(k) or {} for k in ("head", "power", "host", "printer"))
        readings["time"].append(rec[r.K_TIME])
        readings["head_c"].append(None if head.get("temp_dc") is None else head["temp_dc"] / 10)
        readings["supply_v"].append(None if power.get("mean_mv") is None else power["mean_mv"] / 1000)
        readings["host_ms"].append(host.get("rtt_ms"))
        readings["printer_ms"].append(printer.get("reply_ms"))
    return timeline, readings
