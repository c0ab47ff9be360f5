"""A throwaway PostgreSQL cluster for the storage tests: Debian's ``postgresql`` (installed with
apt-get when ``initdb`` is missing and this runs as root), started on 127.0.0.1 on a free port in a
temporary folder, as the ``postgres`` user when this runs as root (PostgreSQL refuses root)."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def ensure_installed() -> str | None:
    """The folder of ``initdb``/``pg_ctl``; installs Debian's postgresql when missing (root only).
    None (with nothing installed) when that is not possible."""
    if _bin("initdb") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, capture_output=True, check=False)
    initdb = _bin("initdb")
    return str(Path(initdb).parent) if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def cluster(folder: Path) -> Iterator[str]:
    """Start a cluster in ``folder``; yields the SQLAlchemy URL of its ``postgres`` database."""
    bindir = ensure_installed()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed and could not be (apt-get install postgresql as root)")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder.mkdir(parents=True, exist_ok=True)
    data, sock = folder / "data", folder / "sock"
    sock.mkdir(exist_ok=True)
    if as_user:
        shutil.chown(folder, "postgres")
        shutil.chown(sock, "postgres")
        os.chmod(folder.parent, 0o755)
    subprocess.run([*as_user, f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "aieng"], check=True,
                   capture_output=True)  # fmt: skip
    port = _free_port()
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-o", opts, "-l", str(folder / "log"), "-w",
                    "start"], check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://aieng@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True)


def fresh_database(server_url: str) -> str:
    """A new empty database on the cluster; returns its URL."""
    from sqlalchemy import create_engine, text

    name = "t_" + secrets.token_hex(6)
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name
