"""A throwaway PostgreSQL cluster for a test session: initdb into a
temporary folder, pg_ctl on a free port, reached only through a unix
socket in that folder, removed at the end.

initdb refuses to run as root, and CI runs as root: then the cluster runs
as an unprivileged user (postgres or nobody when there is one, else a user
made for it with useradd), the folder handed to it. Without PostgreSQL the
tests that need it are skipped on a workstation and fail in CI (CI=true)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_USER_MADE = "posdiag-pg"  # made with useradd only when no unprivileged user exists


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    try:
        pwd.getpwnam(_USER_MADE)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", _USER_MADE], check=True)
    return _USER_MADE


class Cluster:
    """One PostgreSQL server of its own. url: a libpq URL over its socket."""

    def __init__(self) -> None:
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise FileNotFoundError("PostgreSQL (initdb, pg_ctl) is not installed")
        self.pg_ctl = pg_ctl
        self.folder = Path(tempfile.mkdtemp(prefix="posdiag-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = _unprivileged_user()
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run([initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        self.url = f"postgresql://postgres@/postgres?host={self.folder}&port={self.port}"
        self.start()

    def _run(self, argv: list[str]) -> None:
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=self.folder)
        if proc.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()} {tail}")

    def database(self, name: str) -> str:
        """A fresh, empty database of that name on this server (dropped first
        if a test left one); its URL. Tests that count rows take their own."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.replace("/postgres?", f"/{name}?")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses='' -c fsync=off -c max_connections=200"
        self._run([self.pg_ctl, "-D", str(self.data), "-l", str(self.folder / "server.log"), "-o", options, "-w",
                   "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run([self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"])

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass  # stopped already
        shutil.rmtree(self.folder, ignore_errors=True)


def available() -> bool:
    return bool(_bin("initdb") and _bin("pg_ctl"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    if not available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL 15 (initdb, pg_ctl) is missing: CI runs the hub's tests against it")
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed")
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.remove()
