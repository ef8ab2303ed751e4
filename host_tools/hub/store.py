"""The hub's storage: one schema (migrations/*.sql, applied in order and
noted in schema_version), on an SQLite file by default or on PostgreSQL
(psycopg 3) when the URL says postgresql://. The SQL is the same for both:
written with `?` placeholders, turned into psycopg's `%s` in one place
(_sql); one statement differs, for speed: PostgreSQL stores a records
batch as one INSERT over arrays (put_records). Inserts are idempotent (ON
CONFLICT DO NOTHING) and every upload is one transaction.

The hub holds no state of its own: any number of hub processes can share
one PostgreSQL database. A database that cannot be reached raises
Unavailable (the app answers 503); nothing here logs."""

from __future__ import annotations

import hashlib
import queue
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from host_tools.fleet.ingest import fold_upload, lock_terminal
from host_tools.fleet.summary import NewRecord

DEFAULT_DB = "posdiag-hub.sqlite3"
POOL_SIZE = 8  # open connections kept per hub process
_MIGRATION = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


class StoreError(Exception):
    """The database cannot be used as asked (a bad URL, a failed migration)."""


class Unavailable(StoreError):
    """The database does not answer now (down, locked, too busy): try later."""


class NotADatabase(StoreError):
    """The file is not an SQLite database."""


class Exists(StoreError):
    """The terminal or operator is there already."""


@dataclass(frozen=True)
class RecordRow:
    seq: int
    raw: bytes
    trigger: int
    time: int | None
    top_cause: str | None
    facts: NewRecord | None = None  # what the fleet's summaries take from it


@dataclass(frozen=True)
class ReceiptRow:
    seq: int
    token_hash: str | None
    entry: bytes  # the journal entry as CBOR, without token and link
    url_base: str | None
    expires: int


def token_hash(token: str) -> str:
    """What the database keeps of a capability or a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration, in order."""
    out = []
    for item in resources.files("host_tools.hub.migrations").iterdir():
        m = _MIGRATION.fullmatch(item.name)
        if m:
            out.append((int(m.group(1)), item.name, item.read_text()))
    return sorted(out)


def _statements(sql: str) -> list[str]:
    """A migration's statements: split at `;` ending a line, comments gone."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";").strip()]


class Store:
    """A pool of connections to one database. Each method is one short
    transaction; call them from worker threads (the app does)."""

    def __init__(self, url: str | None = None, pool_size: int = POOL_SIZE, busy_timeout_ms: int = 5000) -> None:
        self.url = url or DEFAULT_DB
        self.dialect = "postgresql" if self.url.startswith(("postgresql://", "postgres://")) else "sqlite"
        self.fleet_cache: dict = {}  # the fleet's thresholds, read at most every few seconds (fleet/ingest.py)
        self._busy_ms = busy_timeout_ms
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._write_lock = threading.Lock()
        if self.dialect == "sqlite":
            # sqlite:///var/lib/hub.db is /var/lib/hub.db, as a file:// URL reads
            path = self.url.removeprefix("sqlite://") if self.url.startswith("sqlite://") else self.url
            if self.url.startswith("sqlite://") and not path.startswith("/"):
                raise StoreError(f"{self.url}: write sqlite:///ABSOLUTE/PATH or just a file path")
            self._path = path
            if path != ":memory:" and not Path(path).parent.is_dir():
                raise StoreError(f"{path}: the folder {Path(path).parent} does not exist")
        self.migrate()

    # -- connections --------------------------------------------------------

    def _sql(self, sql: str) -> str:
        """The one place the SQL differs: psycopg's placeholders."""
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def _errors(self) -> tuple[type[BaseException], ...]:
        if self.dialect == "postgresql":
            import psycopg

            return (psycopg.OperationalError, psycopg.InterfaceError)
        return (sqlite3.OperationalError,)

    def _connect(self) -> Any:
        if self.dialect == "postgresql":
            import psycopg

            return psycopg.connect(self.url, connect_timeout=5, autocommit=False)
        conn = sqlite3.connect(self._path, timeout=self._busy_ms / 1000, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # an answered upload survives a power cut too
        return conn

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        self._slots.acquire()
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self._connect()
            try:
                yield conn
            except BaseException:
                try:
                    conn.close()  # a connection that failed is not trusted again
                except Exception:  # noqa: BLE001, S110 - closing a broken connection
                    pass
                raise
            self._pool.put(conn)
        finally:
            self._slots.release()

    def transaction(self, work: Callable[[Callable[..., Any]], Any], write: bool = True) -> Any:
        """Run work(execute) in one transaction, committed at its end or
        rolled back on any error. execute(sql, params=(), many=False)
        returns the cursor. A connection that broke (a database restarted)
        is replaced and the work tried once more; a database that does not
        answer raises Unavailable."""
        errors = self._errors()
        for attempt in (0, 1):
            try:
                with self._conn() as conn:
                    return self._run(conn, work, write)
            except errors as e:
                if attempt == 1 or not self._retryable(e):
                    raise Unavailable(f"the database does not answer: {_first_line(e)}") from None
        raise AssertionError("unreachable")

    def _retryable(self, e: BaseException) -> bool:
        # A pooled PostgreSQL connection may have died under us: one retry
        # on a new one. SQLite's "locked" has waited busy_timeout already.
        return self.dialect == "postgresql"

    def _run(self, conn: Any, work: Callable[[Callable[..., Any]], Any], write: bool) -> Any:
        if self.dialect == "sqlite" and write:
            # One writer at a time in this process: a thread waiting here is
            # woken the moment the writer before it commits, where SQLite's
            # busy handler would have it sleep 1, 2, 5, 10 ... ms and poll
            # (other processes on the same file still meet busy_timeout).
            with self._write_lock:
                return self._run_locked(conn, work, write)
        return self._run_locked(conn, work, write)

    def _run_locked(self, conn: Any, work: Callable[[Callable[..., Any]], Any], write: bool) -> Any:
        if self.dialect == "sqlite":
            cur = conn.cursor()
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        else:
            cur = conn.cursor()

        def execute(sql: str, params: Sequence[Any] = (), many: bool = False) -> Any:
            if many:
                cur.executemany(self._sql(sql), params)
            else:
                cur.execute(self._sql(sql), params)
            return cur

        if self.dialect == "postgresql" and not write:
            # Reads without BEGIN and COMMIT: one round trip per statement
            # instead of three. The rows a read asks for are never changed
            # once written (receipts, links, keys, records): a snapshot per
            # statement reads what one per transaction would.
            conn.autocommit = True
            try:
                return work(execute)
            finally:
                conn.autocommit = False
        try:
            result = work(execute)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return result

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return
            except Exception:  # noqa: BLE001, S112 - closing at exit
                continue

    # -- schema ---------------------------------------------------------------

    def migrate(self) -> int:
        """Apply the migrations not applied yet, each in its own
        transaction; the schema's version after them."""
        errors = self._errors()

        def step(execute: Callable[..., Any]) -> int:
            execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, applied BIGINT)")
            if self.dialect == "postgresql":  # hubs starting together: one migrates, the others wait
                execute("LOCK TABLE schema_version IN EXCLUSIVE MODE")
            done = {row[0] for row in execute("SELECT version FROM schema_version").fetchall()}
            for version, _name, sql in migrations():
                if version in done:
                    continue
                for statement in _statements(sql):
                    execute(statement)
                execute("INSERT INTO schema_version (version, applied) VALUES (?, ?)", (version, int(time.time())))
                done.add(version)
            return max(done, default=0)

        try:
            with self._conn() as conn:
                return int(self._run(conn, step, True))
        except errors as e:
            raise Unavailable(f"cannot open the database {self.safe_url()}: {_first_line(e)}") from None
        except sqlite3.DatabaseError as e:
            raise NotADatabase(f"{self.safe_url()} is not a posdiag hub database: {e}") from None

    def version(self) -> int:
        return int(self.transaction(lambda ex: ex("SELECT MAX(version) FROM schema_version").fetchone()[0], False))

    def safe_url(self) -> str:
        """The URL without its password, for messages."""
        return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", self.url)

    # -- provisioning -----------------------------------------------------------

    def add_terminal(self, terminal: str, merchant: str | None = None) -> str:
        """A new terminal; its upload key (hex), to be given to it once."""
        key = secrets.token_hex(32)

        def work(ex: Callable[..., Any]) -> int:
            return int(
                ex(
                    "INSERT INTO terminals (terminal, upload_key, merchant, created) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (terminal) DO NOTHING",
                    (terminal, key, merchant, int(time.time())),
                ).rowcount
            )

        if self.transaction(work) != 1:
            raise Exists(f"terminal {terminal} is provisioned already")
        return key

    def upload_key(self, terminal: str) -> bytes | None:
        row = self.transaction(
            lambda ex: ex("SELECT upload_key FROM terminals WHERE terminal = ?", (terminal,)).fetchone(), False
        )
        return bytes.fromhex(row[0]) if row else None

    def terminal(self, terminal: str) -> dict | None:
        row = self.transaction(
            lambda ex: ex("SELECT merchant, created, info FROM terminals WHERE terminal = ?", (terminal,)).fetchone(),
            False,
        )
        if row is None:
            return None
        return {"terminal": terminal, "merchant": row[0], "created": row[1], "info": bytes(row[2]) if row[2] else None}

    def add_operator(self, name: str) -> str:
        """A new operator's bearer token, to be shown once; only its hash is kept."""
        token = secrets.token_urlsafe(32)

        def work(ex: Callable[..., Any]) -> int:
            return int(
                ex(
                    "INSERT INTO operators (name, token_hash, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                    (name, token_hash(token), int(time.time())),
                ).rowcount
            )

        if self.transaction(work) != 1:
            raise Exists(f"operator {name} exists already")
        return token

    def operator(self, bearer: str) -> str | None:
        """The operator a bearer token belongs to, or None."""
        row = self.transaction(
            lambda ex: ex("SELECT name FROM operators WHERE token_hash = ?", (token_hash(bearer),)).fetchone(), False
        )
        return str(row[0]) if row else None

    # -- uploads ----------------------------------------------------------------

    def _nonce(self, ex: Callable[..., Any], terminal: str, nonce: str, now: int, keep_s: int) -> bool:
        """Note a request's nonce; False when it was seen (a replay). Nonces
        older than keep_s go first: a replay of those is refused by its time."""
        ex("DELETE FROM nonces WHERE terminal = ? AND seen < ?", (terminal, now - keep_s))
        cur = ex(
            "INSERT INTO nonces (terminal, nonce, seen) VALUES (?, ?, ?) ON CONFLICT (terminal, nonce) DO NOTHING",
            (terminal, nonce, now),
        )
        return int(cur.rowcount) == 1

    def put_records(
        self,
        terminal: str,
        rows: Sequence[RecordRow],
        nonce: tuple[str, int] | None = None,
        info: bytes | None = None,
        now: int | None = None,
    ) -> bool:
        """Store a batch in one transaction; a record already there is left
        as it is. nonce: (nonce, keep seconds) of a signed request, noted in
        the same transaction. False (and nothing stored) for a replay. The
        records not stored before, and the terminal item, are folded into
        the fleet's summaries in the same transaction (host_tools/fleet).
        now: the hub's time of receipt (default: the clock)."""
        now = int(time.time()) if now is None else now

        def work(ex: Callable[..., Any]) -> bool:
            if nonce is not None and not self._nonce(ex, terminal, nonce[0], now, nonce[1]):
                return False
            pg = self.dialect == "postgresql"
            _, merchant, state = lock_terminal(ex, terminal, pg)
            inserted: set[int] = set()  # the seqs this batch adds: the only ones the summaries take
            if rows and self.dialect == "postgresql":
                # The batch as one statement with one array per column, sent in
                # binary (%b): psycopg adapts 5 arrays instead of 7 parameters
                # per row, with no text escaping (a 100-record batch: 1.66 ->
                # 1.2 ms, 0.69 -> 0.42 ms of this process's CPU). PostgreSQL
                # only, hence %s/%b written out. The rows share the terminal:
                # on Citus, one shard.
                cur = ex(
                    "INSERT INTO records (terminal, seq, raw, received, trigger_id, rec_time, top_cause) "
                    "SELECT %s, s, r, %s, g, t, c "
                    "FROM unnest(%b::bigint[], %b::bytea[], %b::int[], %b::bigint[], %b::text[]) AS u(s, r, g, t, c) "
                    "ON CONFLICT (terminal, seq) DO NOTHING RETURNING seq",
                    (
                        terminal,
                        now,
                        [r.seq for r in rows],
                        [r.raw for r in rows],
                        [r.trigger for r in rows],
                        [r.time for r in rows],
                        [r.top_cause for r in rows],
                    ),
                )
                inserted = {seq for (seq,) in cur.fetchall()}
            elif rows:
                # executemany returns no rows: what was there before is read
                # first (the write lock BEGIN IMMEDIATE took keeps it so).
                before = ex(
                    "SELECT seq FROM records WHERE terminal = ? AND seq BETWEEN ? AND ?",
                    (terminal, min(r.seq for r in rows), max(r.seq for r in rows)),
                ).fetchall()
                inserted = {r.seq for r in rows} - {seq for (seq,) in before}
                ex(
                    "INSERT INTO records (terminal, seq, raw, received, trigger_id, rec_time, top_cause) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (terminal, seq) DO NOTHING",
                    [(terminal, r.seq, r.raw, now, r.trigger, r.time, r.top_cause) for r in rows],
                    many=True,
                )
            if info is not None:
                ex("UPDATE terminals SET info = ? WHERE terminal = ?", (info, terminal))
            new = [r.facts for r in rows if r.seq in inserted and r.facts is not None]
            fold_upload(ex, terminal, merchant, new, info, now, state, self.fleet_cache, pg)
            return True

        return bool(self.transaction(work))

    def put_receipts(self, terminal: str, rows: Sequence[ReceiptRow], nonce: tuple[str, int] | None = None) -> bool:
        """Store journal entries and their links in one transaction, as put_records."""
        now = int(time.time())

        def work(ex: Callable[..., Any]) -> bool:
            if nonce is not None and not self._nonce(ex, terminal, nonce[0], now, nonce[1]):
                return False
            if rows:
                ex(
                    "INSERT INTO receipts (terminal, journal_seq, token_hash, entry, url_base, expires, received) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (terminal, journal_seq) DO NOTHING",
                    [(terminal, r.seq, r.token_hash, r.entry, r.url_base, r.expires, now) for r in rows],
                    many=True,
                )
                links = [(r.token_hash, terminal, r.seq, r.expires) for r in rows if r.token_hash]
                if links:
                    ex(
                        "INSERT INTO links (token_hash, terminal, journal_seq, expires) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (token_hash) DO NOTHING",
                        links,
                        many=True,
                    )
            return True

        return bool(self.transaction(work))

    # -- reading ----------------------------------------------------------------

    def receipt_by_token(self, token: str) -> ReceiptRow | None:
        """The receipt a link opens (two single-row lookups), or None."""
        h = token_hash(token)

        def work(ex: Callable[..., Any]) -> ReceiptRow | None:
            link = ex("SELECT terminal, journal_seq FROM links WHERE token_hash = ?", (h,)).fetchone()
            if link is None:
                return None
            row = ex(
                "SELECT journal_seq, token_hash, entry, url_base, expires FROM receipts "
                "WHERE terminal = ? AND journal_seq = ?",
                (link[0], link[1]),
            ).fetchone()
            return ReceiptRow(row[0], row[1], bytes(row[2]), row[3], row[4]) if row else None

        result: ReceiptRow | None = self.transaction(work, False)
        return result

    def records(self, terminal: str, since: int = 0, limit: int = 1000) -> list[RecordRow]:
        """The terminal's records from seq `since` on, oldest first."""
        rows = self.transaction(
            lambda ex: ex(
                "SELECT seq, raw, trigger_id, rec_time, top_cause FROM records "
                "WHERE terminal = ? AND seq >= ? ORDER BY seq LIMIT ?",
                (terminal, since, limit),
            ).fetchall(),
            False,
        )
        return [RecordRow(r[0], bytes(r[1]), r[2], r[3], r[4]) for r in rows]

    def newest_records(self, terminal: str, limit: int) -> list[RecordRow]:
        """The terminal's newest `limit` records, oldest first."""
        rows = self.transaction(
            lambda ex: ex(
                "SELECT seq, raw, trigger_id, rec_time, top_cause FROM records "
                "WHERE terminal = ? ORDER BY seq DESC LIMIT ?",
                (terminal, limit),
            ).fetchall(),
            False,
        )
        return [RecordRow(r[0], bytes(r[1]), r[2], r[3], r[4]) for r in reversed(rows)]

    def count(self, table: str, terminal: str) -> int:
        """Rows of one terminal in records, receipts or nonces (tests, checks)."""
        if table not in ("records", "receipts", "nonces"):
            raise ValueError(table)
        return int(
            self.transaction(
                lambda ex: ex(f"SELECT COUNT(*) FROM {table} WHERE terminal = ?", (terminal,)).fetchone()[0], False
            )
        )


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
