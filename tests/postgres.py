"""A real PostgreSQL server for the store's tests: Debian's ``postgresql`` binaries,
``initdb`` in a temporary folder, listening on 127.0.0.1 on a free port.

One server per test session; each test gets a database of its own
(:meth:`PostgresServer.new_database`). Nothing is mocked: the store talks to it through
SQLAlchemy and psycopg as it would to a team's server. As root (containers, CI) the
server runs as the ``postgres`` user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

INSTALL_HINT = "install Debian's postgresql package (make test does: apt-get install postgresql)"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here, or the server would not start."""


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: Debian keeps them off PATH, per major version."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A throwaway server; :meth:`start`, then :meth:`new_database` per test, :meth:`stop`."""

    user = "radar"

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="radar-pg-"))
        self.data_dir = self.root / "data"
        self.port = _free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")  # KeyError: no such user
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.root.chmod(0o755)

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.run_as, *args], capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{' '.join(args[:2])} failed ({done.returncode}): "
                                      f"{done.stderr.strip()[-2000:]} {tail}")

    def start(self) -> PostgresServer:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.user,
                  "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
        # Durability is not what these tests check: no fsync keeps them fast on CI disks.
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.root} -F "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l",
                  str(self.root / "server.log"), "-o", options, "-w", "-t", "60", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database on this server; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} "
                             "dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m",
                      "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PostgresServer:
    """Start a server, or raise :class:`PostgresUnavailable` saying what is missing."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(f"no initdb found; {INSTALL_HINT}")
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise PostgresUnavailable("psycopg is not installed (the postgres extra)") from exc
    try:
        return PostgresServer(bindir).start()
    except KeyError as exc:
        raise PostgresUnavailable("running as root without a postgres user to run the "
                                  f"server as; {INSTALL_HINT}") from exc
