"""`posdiag serve` facing careless or hostile clients: a time limit on
every connection and a bounded number of workers, the security headers on
every answer (errors too), a malformed expiry file answered 404, the
default lifetime for a receipt without an expiry, one-line errors at start."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools import serve as s
from host_tools.errors import PortError, UsageError

TOKEN = "0123456789abcdef0123456789abcdef"
PAGE = b"<!doctype html><p>receipt</p>"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / f"{TOKEN}.html").write_bytes(PAGE)
    return tmp_path


def start(folder: Path, **kwargs: float) -> tuple[s.ReceiptServer, int]:
    server = s.serve(str(folder), "127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture
def server(folder: Path) -> Iterator[int]:
    srv, port = start(folder)
    yield port
    srv.shutdown()
    srv.server_close()


def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw(port: int, data: bytes) -> bytes:
    """What the server answers to bytes that are not a proper request."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(data)
        answer = b""
        while chunk := c.recv(4096):
            answer += chunk
    return answer


def assert_secure(headers: dict[str, str]) -> None:
    for name, value in s.HEADERS.items():
        assert headers.get(name) == value, (name, headers)


def write_meta(folder: Path, text: str) -> None:
    (folder / "r" / f"{TOKEN}.json").write_text(text)


def test_a_page_with_an_expiry_in_the_future(folder: Path, server: int) -> None:
    write_meta(folder, json.dumps({"expires": time.time() + 60}))
    status, headers, body = get(server, f"/r/{TOKEN}")
    assert status == 200 and body == PAGE
    assert_secure(headers)


@pytest.mark.parametrize(
    "path,method,status",
    [("/nothing", "GET", 404), ("/r/" + "0" * 32, "GET", 404), (f"/r/{TOKEN}", "POST", 501), ("/", "PUT", 501)],
)
def test_every_error_carries_the_headers(server: int, path: str, method: str, status: int) -> None:
    got, headers, _ = get(server, path, method)
    assert got == status
    assert_secure(headers)


def test_an_expired_link_carries_the_headers(folder: Path, server: int) -> None:
    write_meta(folder, json.dumps({"expires": time.time() - 1}))
    status, headers, _ = get(server, f"/r/{TOKEN}")
    assert status == 410
    assert_secure(headers)


@pytest.mark.parametrize("line", [b"NONSENSE", b"GET /r/x HTTP/9z", b"GET /r/x HTTP/1.0 extra"])
def test_a_bad_request_line_is_400_with_the_headers(server: int, line: bytes) -> None:
    answer = raw(server, line + b"\r\n\r\n")
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.0 400"), answer
    for name, value in s.HEADERS.items():
        assert f"{name}: {value}" in head


def test_a_failing_page_is_500_with_the_headers(
    folder: Path, server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> float:
        raise RuntimeError("disk trouble")

    monkeypatch.setattr(s, "expiry", broken)
    status, headers, _ = get(server, f"/r/{TOKEN}")
    assert status == 500
    assert_secure(headers)


@pytest.mark.parametrize(
    "meta", ['{"expires": "soon"}', '{"expires": [1]}', "[1, 2]", "not json", '{"expires": NaN}', '{"expires": true}']
)
def test_a_malformed_expiry_file_is_404_not_a_dropped_connection(folder: Path, server: int, meta: str) -> None:
    write_meta(folder, meta)
    status, headers, _ = get(server, f"/r/{TOKEN}")
    assert status == 404
    assert_secure(headers)


@pytest.mark.parametrize("meta", ['{"expires": null}', "{}", None], ids=["null", "absent-key", "no-file"])
def test_a_receipt_without_expiry_gets_the_default_lifetime(folder: Path, server: int, meta: str | None) -> None:
    assert s.DEFAULT_TTL_S == 30 * 86400  # the firmware's receipt_ttl_s default
    if meta is not None:
        write_meta(folder, meta)
    assert get(server, f"/r/{TOKEN}")[0] == 200  # fresh: served
    page = folder / "r" / f"{TOKEN}.html"
    saved = time.time() - s.DEFAULT_TTL_S - 60
    os.utime(page, (saved, saved))
    assert get(server, f"/r/{TOKEN}")[0] == 410  # saved 30 days ago: expired


def test_half_open_connections_are_bounded_and_timed_out(folder: Path) -> None:
    """Today 500 half-open requests held 501 threads past 60 s."""
    srv, port = start(folder, workers=4, time_limit=1.0)
    before = threading.active_count()
    socks = []
    try:
        for _ in range(60):
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sendall(b"GET /r/")  # and never the rest
            socks.append(c)
        time.sleep(0.3)
        assert threading.active_count() <= before + 4
        started = time.monotonic()
        for c in socks:  # each one ends: 503 at once (all workers busy) or closed at the time limit
            answer = b""
            while chunk := c.recv(4096):
                answer += chunk
            assert answer == b"" or answer.startswith((b"HTTP/1.0 503", b"HTTP/1.0 408", b"HTTP/1.0 400"))
        assert time.monotonic() - started < 5
        # and the server still answers
        assert get(port, f"/r/{TOKEN}")[0] == 200
        assert threading.active_count() <= before + 4
    finally:
        for c in socks:
            c.close()
        srv.shutdown()
        srv.server_close()


def test_a_slow_drip_is_cut_at_the_time_limit(folder: Path) -> None:
    """A byte every half second keeps each read alive: the whole connection
    still ends at the limit."""
    srv, port = start(folder, workers=2, time_limit=1.0)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            started = time.monotonic()
            with pytest.raises(OSError):
                for byte in b"GET /r/" + TOKEN.encode() * 10:
                    c.sendall(bytes([byte]))
                    time.sleep(0.3)
                    if time.monotonic() - started > 4:
                        break
            assert time.monotonic() - started < 3
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_missing_folder_is_an_error_at_start(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a folder"):
        s.serve(str(tmp_path / "nowhere"), "127.0.0.1", 0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError):
        s.serve(str(tmp_path / "file"), "127.0.0.1", 0)


def test_a_port_in_use_and_an_unknown_host_are_one_line_errors(folder: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(PortError, match="cannot listen") as e:
            s.serve(str(folder), "127.0.0.1", port)
        assert "another program" in e.value.hint
    with pytest.raises(PortError, match="cannot listen"):
        s.serve(str(folder), "no-such-host.invalid", 0)
