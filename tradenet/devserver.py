"""`make run`'s server process: deploy/serve.sh, and the embedded PostgreSQL it used.

Stopping `make run` stops everything it started. make does not pass SIGTERM on to its
recipe, so this process asks the kernel for SIGTERM when make dies (PR_SET_PDEATHSIG), the
server likewise when this process dies; the server runs in a process group of its own so that
a Ctrl-C reaches it once, through here. When the server has stopped, the embedded PostgreSQL
(`.pgdata/`, used when DATABASE_URL is unset) is stopped too, unless another program is still
connected to it (a test session, a shell), in which case it is left running and said so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tradenet.serving import exit_with_parent

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    exit_with_parent()
    server = subprocess.Popen(
        [str(ROOT / "deploy" / "serve.sh")],
        cwd=ROOT,
        process_group=0,
        preexec_fn=exit_with_parent,  # safe here: no other threads yet
    )

    def stop_server(signum, frame):
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)  # uvicorn: a second one cuts the grace period

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop_server)
    code = server.wait()
    if not os.environ.get("DATABASE_URL"):
        from tradenet import embedded_postgres

        embedded_postgres.stop_unless_in_use()
    return 128 + -code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
