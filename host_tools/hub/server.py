"""Running the hub: the database opened (and migrated), the address bound,
uvicorn serving the app; provisioning from the command line. Errors are
PosdiagError lines (host_tools/errors.py), never a traceback."""

from __future__ import annotations

import errno
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

from host_tools.errors import BadDataError, PortError, UsageError
from host_tools.fleet.alerts import Deliverer, check_webhook
from host_tools.fleet.queries import Fleet, SettingError
from host_tools.hub.app import make_app
from host_tools.hub.store import Exists, NotADatabase, Store, StoreError, Unavailable

DEFAULT_LISTEN = "127.0.0.1:8080"


def open_store(db: str | None, **options: Any) -> Store:
    """The store at db (a file path, sqlite:///PATH or postgresql://...),
    migrated; a database that cannot be opened is one line."""
    try:
        return Store(db, **options)
    except Unavailable as e:
        raise PortError(str(e), "check --db: the file's folder, or the PostgreSQL server, user and password") from None
    except NotADatabase as e:
        raise BadDataError(str(e), "give another --db, or move the file away") from None
    except StoreError as e:
        raise UsageError(str(e), "--db takes a file path, sqlite:///PATH or postgresql://USER@HOST/DB") from None


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen wants HOST:PORT, not {text!r}", "e.g. 127.0.0.1:8080, or 0.0.0.0:8080 for everyone")
    return host, int(port)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, or a PortError line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        hint = "--listen wants an address of this machine"
        raise PortError(f"cannot listen on {host}:{port}: {e.strerror}", hint) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            hint = "another program listens there: choose another port"
        elif e.errno == errno.EACCES:
            hint = "ports below 1024 need privileges: choose e.g. 8080"
        else:
            hint = "--listen wants an address of this machine, e.g. 127.0.0.1:8080 or 0.0.0.0:8080"
        raise PortError(f"cannot listen on {host}:{port}: {e.strerror}", hint) from None
    return sock


def run(
    db: str | None,
    listen: str = DEFAULT_LISTEN,
    ready: Callable[[str], None] | None = None,
    webhook: str | None = None,
    settings: dict[str, float] | None = None,
    **options: Any,
) -> None:
    """Serve until interrupted. ready(url) is called once listening.
    webhook: where alerts are posted; settings: fleet thresholds to store
    first (docs/fleet.md)."""
    import uvicorn

    host, port = parse_listen(listen)
    if webhook is not None and (why := check_webhook(webhook)):
        raise UsageError(f"--webhook {webhook}: {why}", "e.g. --webhook https://ops.example/hooks/posdiag")
    store = open_store(db)
    for name, value in (settings or {}).items():
        try:
            Fleet(store).set(name, value)
        except SettingError as e:
            store.close()
            raise UsageError(str(e)) from None
    sock = bind(host, port)
    app, hub = make_app(store, **options)
    if webhook is not None:
        hub.deliverer = Deliverer(store, webhook, hub.clock)
        hub.deliverer.start()
    # No access log of uvicorn's: it would write whole links. The app logs
    # each request itself, tokens cut short (app._Edge).
    config = uvicorn.Config(
        app, access_log=False, log_config=None, lifespan="off", timeout_keep_alive=5, server_header=False
    )
    server = uvicorn.Server(config)
    bound = sock.getsockname()
    if ready:
        ready(f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}")
    try:
        server.run(sockets=[sock])
    finally:
        if hub.deliverer is not None:
            hub.deliverer.stop()
        sock.close()
        store.close()


def configure_logging() -> None:
    """One line per event on stderr."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def add_terminal(db: str | None, terminal: str, merchant: str | None = None) -> str:
    from host_tools.hub.app import _TERMINAL_ID

    if not _TERMINAL_ID.fullmatch(terminal):
        raise UsageError(f"{terminal!r} is not a terminal id", "letters, digits, '.', '-', '_'; at most 64")
    return _provision(db, lambda store: store.add_terminal(terminal, merchant), "each terminal gets its key once")


def add_operator(db: str | None, name: str) -> str:
    if not name or not name.isprintable() or len(name) > 64:
        raise UsageError(f"{name!r} is not an operator name", "printable text, at most 64 characters")
    return _provision(db, lambda store: store.add_operator(name), "choose another name")


def _provision(db: str | None, add: Callable[[Store], str], twice_hint: str) -> str:
    """The secret add(store) makes (shown once), its errors as one line: a
    name already there (exit 5), a database that does not answer (exit 3)."""
    store = open_store(db)
    try:
        return add(store)
    except Exists as e:
        raise BadDataError(str(e), twice_hint) from None
    except Unavailable as e:
        raise PortError(str(e)) from None
    finally:
        store.close()
