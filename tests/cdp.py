"""A small Chrome DevTools Protocol client over a pipe, for tests that open
pages in real headless Chromium: no new dependency, no websocket.

Chromium started with ``--remote-debugging-pipe`` reads the protocol on its
fd 3 and writes on its fd 4, each message JSON ended by a NUL byte. The
client opens one page (Target.createTarget, then Target.attachToTarget with
flatten: every later message of that page carries its sessionId), and keeps
every event it reads, so a test can ask afterwards what the console said.

    with Chromium(tmp_path) as browser:
        page = browser.page()
        page.viewport(360, 800)
        page.navigate("http://127.0.0.1:8080/")
        page.evaluate("document.title")
        page.screenshot(tmp_path / "page.png")
        assert page.errors() == []

The browser is always killed at the end (close(), or leaving the with)."""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["CDPError", "Chromium", "Page", "chromium_binary"]

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--remote-debugging-pipe",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)


class CDPError(Exception):
    """The browser answered a command with an error, or went away."""


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _high(fd: int) -> int:
    """fd moved to a number of 10 or more (so the shell's `3<&N 4>&M` cannot
    overwrite one of the two with the other)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Chromium:
    """Headless Chromium in its own process, spoken to over the pipe."""

    def __init__(self, tmp: Path, binary: str | None = None, timeout: float = 30.0) -> None:
        binary = binary or chromium_binary()
        if binary is None:
            raise CDPError("Chromium is not installed (Debian: apt-get install chromium)")
        self.timeout = timeout
        to_browser_r, to_browser_w = (_high(fd) for fd in os.pipe())
        from_browser_r, from_browser_w = (_high(fd) for fd in os.pipe())
        profile = tmp / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        self.log_path = tmp / "chromium.log"
        log = self.log_path.open("wb")
        # The child's fd 3 reads what we write, its fd 4 writes what we read.
        # pass_fds hands the two ends over; bash puts them at 3 and 4 (dash
        # takes only one-digit descriptors in a redirection).
        script = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
        try:
            self.proc = subprocess.Popen(
                [shutil.which("bash") or "/bin/bash", "-c", script, binary, *_FLAGS, f"--user-data-dir={profile}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(to_browser_r, from_browser_w),
                start_new_session=True,
            )
        finally:
            log.close()
            os.close(to_browser_r)
            os.close(from_browser_w)
        self._out, self._in = to_browser_w, from_browser_r
        self._ids = itertools.count(1)
        self._buffer = b""
        self._answers: dict[int, dict] = {}
        self.events: list[dict] = []  # every event read, in order: {"method", "params", "sessionId"?}

    # -- the wire -----------------------------------------------------------------

    def _send(self, message: dict) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            try:
                n = os.write(self._out, data)
            except BrokenPipeError:
                raise CDPError(f"Chromium went away: {self._log_tail()}") from None
            data = data[n:]

    def _read_one(self, deadline: float) -> bool:
        """Read what has arrived (waiting until deadline): False when nothing did."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self._in], [], [], left)
            if not ready:
                return False
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise CDPError(f"Chromium closed the pipe: {self._log_tail()}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message = json.loads(raw)
        if "id" in message:
            self._answers[message["id"]] = message
        else:
            self.events.append(message)
        return True

    def call(self, method: str, session: str | None = None, timeout: float | None = None, **params: Any) -> dict:
        """One command and its result; CDPError for an error answer."""
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + (timeout or self.timeout)
        while ident not in self._answers:
            if not self._read_one(deadline):
                raise CDPError(f"{method}: no answer within {timeout or self.timeout} s")
        answer = self._answers.pop(ident)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error'].get('message')} {answer['error'].get('data', '')}".strip())
        return dict(answer.get("result", {}))

    def wait_event(self, method: str, session: str | None, after: int = 0, timeout: float | None = None) -> dict:
        """The first event `method` of `session` at index `after` or later in self.events."""
        deadline = time.monotonic() + (timeout or self.timeout)
        i = after
        while True:
            while i < len(self.events):
                event = self.events[i]
                i += 1
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            if not self._read_one(deadline) and time.monotonic() >= deadline:
                raise CDPError(f"no {method} within {timeout or self.timeout} s")

    def drain(self, seconds: float = 0.0) -> None:
        """Read every message that arrives within `seconds` (console errors late to the party)."""
        deadline = time.monotonic() + seconds
        while self._read_one(deadline):
            pass

    def page(self) -> Page:
        return Page(self)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    # -- the end ----------------------------------------------------------------------

    def close(self) -> None:
        """Kill the browser (its whole process group) and close the pipe."""
        try:
            self._send({"id": next(self._ids), "method": "Browser.close", "params": {}})
        except CDPError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, 9)  # the browser's helpers too; its own new session
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        for fd in (self._out, self._in):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """One tab, attached in flat mode; Runtime, Log, Page and Network enabled."""

    def __init__(self, browser: Chromium) -> None:
        self.browser = browser
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.start = len(browser.events)  # this page's errors are counted from here
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict:
        return self.browser.call(method, self.session, **params)

    def navigate(self, url: str, timeout: float | None = None) -> None:
        """Open url and wait for its load event."""
        mark = len(self.browser.events)
        answer = self.call("Page.navigate", url=url)
        if answer.get("errorText"):
            raise CDPError(f"{url}: {answer['errorText']}")
        self.browser.wait_event("Page.loadEventFired", self.session, mark, timeout)

    def act(self, expression: str, timeout: float | None = None) -> None:
        """Run an expression that leaves the page (a form's submit, a click
        on a link) and wait for the next page's load event."""
        mark = len(self.browser.events)
        self.call("Runtime.evaluate", expression=expression)
        self.browser.wait_event("Page.loadEventFired", self.session, mark, timeout)

    def set_cookie(self, name: str, value: str, url: str, http_only: bool = True, same_site: str = "Strict") -> None:
        ok = self.call("Network.setCookie", name=name, value=value, url=url, httpOnly=http_only, sameSite=same_site)
        if not ok.get("success", True):
            raise CDPError(f"cookie {name} not set")

    def clear_cookies(self) -> None:
        self.call("Network.clearBrowserCookies")

    def cookies(self) -> list[dict]:
        return list(self.call("Network.getCookies").get("cookies", []))

    def evaluate(self, expression: str) -> Any:
        """The expression's value (promises awaited, returned by value)."""
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"{expression[:80]}: {text}")
        return answer.get("result", {}).get("value")

    def errors(self, settle: float = 0.2) -> list[str]:
        """Console errors, uncaught exceptions and the browser's error log
        entries (a CSP violation, a resource that failed) of this page so far."""
        self.browser.drain(settle)
        out = []
        for event in self.browser.events[self.start :]:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                out.append("exception: " + str(details.get("exception", {}).get("description") or details.get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                out.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
        return out

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def viewport(self, width: int, height: int, mobile: bool = True) -> None:
        """The page laid out as a phone's (or a desktop's) screen of this size."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)
