"""A real PostgreSQL for the tests: Debian's server, run by hand (no systemd) in a temporary directory.

`initdb` and `pg_ctl` run as the `postgres` user when the tests run as root (PostgreSQL refuses to
run as root), on a loopback port, with a password for the test user so that the router's password
file is used as on a site. Each test gets a database of its own (`fresh_database()`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

USER = "callrouter"
PASSWORD = "pg;p&ss w:rd"  # characters a careless URL or conninfo would break on


def binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


def unavailable_reason() -> str | None:
    if binaries() is None:
        return "no PostgreSQL server (apt-get install postgresql; scripts/setup does it as root)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no postgres user to run the server as"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = port or free_port()
        self._names = itertools.count(1)
        found = binaries()
        assert found is not None
        self._bin: Path = found

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = [str(self._bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        if not self.data.exists():
            secret = self.directory / "superuser-password"
            secret.write_text("postgres\n", encoding="utf-8")
            if os.geteuid() == 0:
                shutil.chown(secret, "postgres", "postgres")
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
                      f"--pwfile={secret}", "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
        self._pg_ctl_start()
        with self.admin() as db:
            db.execute(f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{PASSWORD.replace(chr(39), chr(39) * 2)}'")

    def _pg_ctl_start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.directory}"
        options += " -c fsync=on -c max_connections=200"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.directory / "server.log"), "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start_again(self) -> None:
        """After `stop()`: the same server, its data kept."""
        self._pg_ctl_start()

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the server (its connections end), wait, start it again: as a site's failover or update."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        time.sleep(down_for)
        self._pg_ctl_start()

    @contextlib.contextmanager
    def admin(self, database: str = "postgres") -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", password="postgres", dbname=database, autocommit=True
        ) as db:
            yield db

    def fresh_database(self) -> str:
        """A new empty database owned by the test user; returns its URL (without the password)."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with self.admin() as db:
            db.execute(f"CREATE DATABASE {name} OWNER {USER}")
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def password_file(self) -> Path:
        path = self.directory / "router-db-password"
        path.write_text(PASSWORD + "\n", encoding="utf-8")
        return path

    def environment(self, url: str) -> dict[str, str]:
        """What a router or command of the site is given: the URL and the password's file."""
        return {"CALLROUTER_DATABASE": url, "CALLROUTER_DATABASE_PASSWORD_FILE": str(self.password_file())}
