"""A technician's uploads to the hub, for a terminal whose network is down:
a serially pulled log (`posdiag upload FILE --hub URL`) and pending
receipts as `posdiag receipts --hub URL` pulls them. Through the operators'
endpoints, with a bearer token, into the same idempotent storage as the
terminal's own uploads: sending a file twice stores nothing twice."""

from __future__ import annotations

import http.client
import os
import time
import urllib.parse
from collections.abc import Callable, Iterator

from host_tools.errors import AuthError, BadDataError, PortError, UsageError
from host_tools.hub.client import Answer, bearer, request
from host_tools.records import UNREADABLE, LogFile, damage_summary, decode_record
from posdiag import hubwire
from posdiag import record as r

TOKEN_ENV = "POSDIAG_HUB_TOKEN"
TRIES = 6  # a busy or unavailable hub is asked this often, as long as it says to retry
_WAIT_MAX_S = 30


def hub_url(text: str) -> str:
    url = urllib.parse.urlsplit(text)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UsageError(f"--hub wants the hub's URL, not {text!r}", "e.g. --hub https://hub.example")
    return text.rstrip("/")


def operator_token(given: str | None) -> str:
    token = given or os.environ.get(TOKEN_ENV)
    if not token:
        raise AuthError(
            "uploading to the hub needs an operator's token",
            f"give --token or {TOKEN_ENV} (`posdiag hub token add NAME` makes one)",
        )
    return token


def post(base: str, path: str, body: bytes, token: str, sleep: Callable[[float], None] = time.sleep) -> dict:
    """POST a batch as an operator; the JSON answer. A 503 or 429 is asked
    again after its Retry-After; anything else not 200 is one line."""
    headers = {**bearer(token), "Content-Type": hubwire.CONTENT_TYPE}
    for attempt in range(TRIES):
        try:
            answer = request(base, "POST", path, body, headers)
        except (OSError, http.client.HTTPException) as e:
            why = getattr(e, "strerror", None) or e or type(e).__name__
            raise PortError(f"cannot reach the hub at {base}: {why}", "check --hub and the network") from None
        if answer.status in (429, 503) and attempt < TRIES - 1:
            wait = answer.headers.get("retry-after", "1")
            sleep(min(float(wait) if wait.isdigit() else 1.0, _WAIT_MAX_S))
            continue
        return _answered(answer, base)
    raise AssertionError("unreachable")


def _answered(answer: Answer, base: str) -> dict:
    try:
        doc = answer.json()
    except ValueError:
        doc = {}
    why = str(doc.get("message") or answer.body[:200].decode("utf-8", "replace").strip())
    if answer.status == 200:
        return doc
    if answer.status == 401:
        raise AuthError(f"the hub refused the token: {why}", f"check --token or {TOKEN_ENV}")
    if doc.get("error") == "unknown-terminal":
        raise BadDataError(why, "provision it first: posdiag hub terminal add ID")
    if answer.status in (429, 503):
        raise PortError(f"the hub at {base} is busy or its database is down: {why}", "try again later")
    raise BadDataError(f"the hub refused the upload ({answer.status}): {why}")


def batches(item: bytes | None, records: Iterator[bytes]) -> Iterator[list[bytes]]:
    """The log's items in batches the hub takes (MAX_RECORDS, MAX_BODY),
    the terminal item at the head of the first."""
    batch: list[bytes] = [item] if item else []
    size, count = sum(map(len, batch)) + 3, 0
    for raw in records:
        if count == hubwire.MAX_RECORDS or size + len(raw) > hubwire.MAX_BODY:
            yield batch
            batch, size, count = [], 3, 0
        batch.append(raw)
        size += len(raw)
        count += 1
    if count or batch:
        yield batch


def upload_log(base: str, token: str, path: str, terminal: str | None = None) -> dict:
    """Every intact record of a pulled file to the hub. {"terminal",
    "records", "first", "last", "damage"}; BadDataError for a file that is
    not a pulled log (nothing sent)."""
    import cbor2

    with LogFile(path) as log:
        ident = terminal or log.terminal.get("terminal")
        if not isinstance(ident, str) or not ident:
            raise UsageError(f"{path} does not name its terminal", "give --terminal ID")
        item = {k: v for k, v in log.terminal.items() if k != UNREADABLE}
        target = f"{hubwire.API}/terminals/{urllib.parse.quote(ident, safe='')}/records"
        head = cbor2.dumps(item)
        seqs: list[int] = []
        for batch in batches(head, log.records()):
            post(base, target, hubwire.records_head(len(batch)) + b"".join(batch), token)
            seqs += [decode_record(raw)[r.K_SEQ] for raw in batch if raw is not head]
        damage = damage_summary(log.damage)
    return {
        "terminal": ident,
        "records": len(set(seqs)),
        "first": min(seqs, default=None),
        "last": max(seqs, default=None),
        "damage": damage,
    }


def upload_receipt(base: str, token: str, terminal: str, seq: int, entry: bytes) -> None:
    """One journal entry, exactly as the terminal kept it; returns once the
    hub has stored it (the caller acknowledges it on the terminal then)."""
    target = f"{hubwire.API}/terminals/{urllib.parse.quote(terminal, safe='')}/receipts"
    body = hubwire.records_head(1) + hubwire.receipt_head(seq) + entry
    stored = post(base, target, body, token).get("receipts")
    if stored != [seq]:
        raise BadDataError(f"the hub did not confirm receipt {seq}")
