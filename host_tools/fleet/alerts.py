"""Alerts to the operator's webhook: each alert the ingest stored
(host_tools/fleet/ingest.py) is posted as JSON until the webhook answers
2xx, with backoff between tries. Delivery is at least once: the receiver
tells repeats apart by the alert's id.

Several hub processes may share one database: before each try a process
claims the alert by bumping its try count from the value it read, so
only one of them sends that try."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from host_tools.hub.store import Store, Unavailable

log = logging.getLogger("posdiag.fleet.alerts")

POLL_S = 1.0  # how often undelivered alerts are looked for
TIMEOUT_S = 5.0  # one try's wait for the webhook
HEADER = "posdiag-hub"
BACKOFF_S = (1, 2, 5, 15, 60, 300)  # before the 1st, 2nd, ... retry; then every 300 s


def check_webhook(url: str) -> str | None:
    """Why url cannot be a webhook, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "a webhook is an http:// or https:// URL"
    return None


def payload(alert: dict) -> bytes:
    """The JSON a webhook receives: the alert as the API lists it."""
    keys = ("id", "kind", "terminal", "model", "cause", "raised", "detail")
    return json.dumps({key: alert[key] for key in keys}, sort_keys=True).encode()


class Deliverer:
    """Posts stored alerts to one webhook from a thread of the hub process."""

    def __init__(self, store: Store, url: str, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.url = url
        self.clock = clock
        self.delivered = 0
        self.failed_tries = 0
        self._next_try: dict[str, float] = {}  # alert id -> monotonic time of its next try
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="posdiag-webhook", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=TIMEOUT_S + 1)

    def wake(self) -> None:
        """Look now (an upload raised an alert)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Unavailable as e:
                log.warning("alerts: %s", e)
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _pending(self) -> list[tuple[Any, ...]]:
        return list(
            self.store.transaction(
                lambda ex: ex(
                    "SELECT id, kind, terminal, model, cause, raised, detail, tries FROM alerts "
                    "WHERE delivered IS NULL ORDER BY raised, id LIMIT 100"
                ).fetchall(),
                False,
            )
        )

    def _claim(self, alert_id: str, tries: int) -> bool:
        def work(ex: Callable[..., Any]) -> bool:
            cur = ex(
                "UPDATE alerts SET tries = tries + 1 WHERE id = ? AND tries = ? AND delivered IS NULL",
                (alert_id, tries),
            )
            return bool(cur.rowcount == 1)

        return bool(self.store.transaction(work))

    def deliver_due(self) -> int:
        """Try each undelivered alert whose backoff is over; how many were delivered."""
        done = 0
        for alert_id, kind, terminal, model, cause, raised, detail, tries in self._pending():
            if self._stop.is_set():
                break
            if time.monotonic() < self._next_try.get(alert_id, 0) or not self._claim(alert_id, tries):
                continue
            alert = {
                "id": alert_id,
                "kind": kind,
                "terminal": terminal,
                "model": model,
                "cause": cause,
                "raised": raised,
                "detail": json.loads(detail),
            }
            why = self._post(payload(alert))
            if why is None:
                self._delivered(alert_id)
                self._next_try.pop(alert_id, None)
                self.delivered += 1
                done += 1
            else:
                self.failed_tries += 1
                wait = BACKOFF_S[min(tries, len(BACKOFF_S) - 1)]
                self._next_try[alert_id] = time.monotonic() + wait
                log.warning("alert %s not delivered (try %d): %s; next try in %d s", alert_id, tries + 1, why, wait)
        return done

    def _delivered(self, alert_id: str) -> None:
        when = int(self.clock())
        self.store.transaction(lambda ex: ex("UPDATE alerts SET delivered = ? WHERE id = ?", (when, alert_id)))

    def _post(self, body: bytes) -> str | None:
        """None when the webhook took it (2xx), else why not."""
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": HEADER}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310 - an http(s) URL, checked
                answer.read(4096)
                return None
        except urllib.error.HTTPError as e:
            return f"the webhook answered {e.code}"
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            return f"the webhook did not answer ({reason})"
