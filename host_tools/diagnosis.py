"""From a record to a diagnosis: what each check saw and the causes, ranked
by the same rules the terminal used for its on-screen hint (posdiag.rank).
The JSON shape is documented in docs/json-output.md."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from host_tools import catalog_names as names
from host_tools import knowledge, texts
from host_tools.errors import BadDataError
from host_tools.records import UNREADABLE, decode_record
from posdiag import catalog as c
from posdiag import rank
from posdiag import record as r
from posdiag.catalog import BAUD_RATES
from posdiag.record import check_flags


def _full(value: object, check: str, size: tuple[int, ...]) -> list:
    """A check's full array form; a bare number is the healthy form with
    only its key measurement (record.compact), expanded here."""
    if isinstance(value, int):
        return [0, value]
    if isinstance(value, list) and len(value) in size and isinstance(value[0], int):
        return value
    raise BadDataError(f"{check} check has an unexpected form: {value!r}")


def _check_printer(value: object) -> dict:
    if isinstance(value, int):
        return {"flags": [], "raw": None, "reply_ms": value, "baud_found": None}
    flags, raw, ms, *found = _full(value, "printer", (3, 4))
    baud = None
    if found and isinstance(found[0], int) and 0 <= found[0] < len(BAUD_RATES):
        baud = BAUD_RATES[found[0]]
    return {
        "flags": names.flag_names(c.CHECK_PRINTER, flags),
        "raw": raw.hex() if isinstance(raw, bytes) else None,
        "reply_ms": ms,
        "baud_found": baud,
    }


def _check_paper(value: object) -> dict:
    if not isinstance(value, int):
        raise BadDataError(f"paper check has an unexpected form: {value!r}")
    return {"flags": names.flag_names(c.CHECK_PAPER, value)}


def _check_host(value: object) -> dict:
    if isinstance(value, int):
        return {"flags": [], "rtt_ms": value, "echo_ms": None}
    flags, rtt, echo = _full(value, "host", (3,))
    return {"flags": names.flag_names(c.CHECK_HOST, flags), "rtt_ms": rtt, "echo_ms": echo}


def _check_head(value: object) -> dict:
    flags, temp = _full(value, "head", (2,))
    return {"flags": names.flag_names(c.CHECK_HEAD, flags), "temp_dc": temp}


def _check_power(value: object) -> dict:
    if isinstance(value, int):
        return {"flags": [], "mean_mv": value, "spread_mv": None}
    flags, mean, spread = _full(value, "power", (3,))
    return {"flags": names.flag_names(c.CHECK_POWER, flags), "mean_mv": mean, "spread_mv": spread}


_DESCRIBE = (_check_printer, _check_paper, _check_host, _check_head, _check_power)


def _status(flags: int, warning_flags: int) -> str:
    if not flags:
        return "ok"
    return "warning" if flags & ~warning_flags == 0 else "fault"


def describe_checks(checks: object, unreadable: tuple[str, ...] | list[str] = ()) -> dict:
    """The five checks as the JSON shows them; a check named in unreadable
    (its value has a form this host cannot read) is {"flags": [], "status":
    "unknown"}."""
    if not isinstance(checks, list):
        raise BadDataError("record checks are not an array")
    out: dict[str, dict | None] = {}
    for check, name in enumerate(names.CHECKS):
        value = checks[check] if check < len(checks) else None
        if f"checks.{name}" in unreadable or "checks" in unreadable:
            out[name] = {"flags": [], "status": "unknown"}
            continue
        if value is None:
            out[name] = None
            continue
        described = _DESCRIBE[check](value)
        described["status"] = _status(check_flags(checks, check), names.WARNING_FLAGS[check])
        out[name] = described
    return out


@lru_cache(maxsize=4096)
def _ranked(flags: tuple[int, ...], failed: bool) -> tuple[int, ...]:
    # The ranking depends only on the five checks' flags and whether the
    # self-test failed inside: logs repeat the same few combinations, so
    # each is ranked once, by the firmware's own rank.causes on checks that
    # are their flags alone (record.check_flags reads [flags] like the full form).
    return tuple(rank.causes([[f] for f in flags], failed))


def ranked_causes(checks: list, failed: bool = False) -> tuple[int, ...]:
    """Cause codes for a record's checks, most likely first (posdiag.rank).
    failed: the record says the self-test failed inside (key 9)."""
    if not isinstance(checks, list):
        return ()
    # record.check_flags of each check, inlined: this runs once per record of a long log.
    flags = [0, 0, 0, 0, 0]
    for i, v in enumerate(checks[:5]):
        if type(v) is list:
            flags[i] = v[0]
        elif i == c.CHECK_PAPER and type(v) is int:
            flags[i] = v  # paper is always its flags; other bare numbers are healthy
    return _ranked(tuple(flags), failed)


def record_causes(rec: dict) -> tuple[int, ...]:
    """Cause codes for a decoded record, most likely first."""
    return ranked_causes(rec[r.K_CHECKS], r.K_ERROR in rec)


# Stages of a self-test that failed inside (record key 9).
STAGES = (*names.CHECKS, "record")


def _error(value: object) -> dict | None:
    """Record key 9, [stage, catalog.ERROR_CLASSES code], as the JSON shows it."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)):
        raise BadDataError(f"record error has an unexpected form: {value!r}")
    stage, code = value
    return {
        "stage": STAGES[stage] if 0 <= stage < len(STAGES) else f"unknown stage {stage}",
        "name": names.ERRORS[code] if 0 <= code < len(names.ERRORS) else f"unknown error {code}",
    }


def cause_entry(code: int, lang: str) -> dict:
    """The static part of a cause (shared between records: do not mutate)."""
    ident, category, severity = names.CAUSES[code]
    return {
        "id": ident,
        "category": category,
        "severity": severity,
        "hint": {"zh": c.hint(code, "zh"), "en": c.hint(code, "en")},
        "steps": list(knowledge.steps(ident, lang)),
        "e_receipt": ident in knowledge.E_RECEIPT,
    }


def _iso(unix: int | None) -> str | None:
    if unix is None:
        return None
    return dt.datetime.fromtimestamp(unix, dt.UTC).isoformat().replace("+00:00", "Z")


def _counters(values: object) -> dict | None:
    if values is None:
        return None
    if not (isinstance(values, list) and len(values) == 3):
        raise BadDataError(f"record counters have an unexpected form: {values!r}")
    return dict(zip(("paper_mm", "cuts", "head_energized"), values, strict=True))


# Receipt policies: what the law where the terminal stands asks of a receipt,
# and whether an e-receipt may stand in for paper (the advice: texts, "policy").
POLICIES = {"paper-required": False, "electronic-allowed": True, "on-request": True}


def policy_entry(policy: str, lang: str) -> dict:
    """The receipt-policy cause: what the configured policy asks for."""
    entry = dict(cause_entry(c.RECEIPT_POLICY, lang))
    entry["steps"] = [texts.text("policy", policy, lang), *entry["steps"]]
    entry["e_receipt"] = POLICIES[policy]
    entry["policy"] = policy
    entry["evidence"] = []
    return entry


def _evidence(cause_id: str, described: dict) -> list[dict]:
    """The readings that support a cause, with their values."""
    out = []
    for reading in knowledge.EVIDENCE.get(cause_id, ()):
        check, _, name = reading.partition(".")
        value = (described.get(check) or {}).get(name)
        if value not in (None, [], ""):
            out.append({"reading": reading, "value": value})
    return out


def diagnose(raw: bytes, lang: str = "en", policy: str | None = None) -> dict:
    rec = decode_record(raw)
    unreadable = rec[UNREADABLE]
    checks = rec[r.K_CHECKS]
    described = describe_checks(checks, unreadable)
    error = _error(rec.get(r.K_ERROR))
    trigger = trigger_name(rec)
    counters = rec.get(r.K_COUNTERS)
    causes = []
    for code in record_causes(rec):
        entry = dict(cause_entry(code, lang))
        entry["evidence"] = _evidence(entry["id"], {**described, "error": error})
        causes.append(entry)
    if policy is not None and causes:
        # The policy decides what a failed receipt means, so it follows the
        # cause, and it overrides whether an e-receipt stands in for paper.
        rule = policy_entry(policy, lang)
        for entry in causes:
            entry["e_receipt"] = entry["e_receipt"] and rule["e_receipt"]
        causes.append(rule)
    return {
        "seq": rec[r.K_SEQ],
        "boot": rec[r.K_BOOT],
        "uptime_s": rec[r.K_UPTIME],
        "time": _iso(rec.get(r.K_TIME)),
        "trigger": trigger,
        "bytes": len(raw),
        "checks": described,
        "receipt": rec.get(r.K_RECEIPT),
        "counters": _counters(counters),
        "error": error,
        "causes": causes,
        "unreadable": list(unreadable),
    }


def trigger_name(rec: dict) -> str | int:
    """A decoded record's trigger: its name, the number of a trigger newer
    than this host, or "unknown" when the field could not be read."""
    if "trigger" in rec[UNREADABLE]:
        return "unknown"
    trigger = rec.get(r.K_TRIGGER, r.TRIGGER_BOOT)
    return r.TRIGGERS[trigger] if 0 <= trigger < len(r.TRIGGERS) else trigger
