"""`make run`'s server process: deploy/serve.sh, and the embedded PostgreSQL it used.

It prints the "serving on" banner once the server answers /healthz, not before, so the first
URL a newcomer opens is one that works.

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
import threading
import time
import urllib.request
from pathlib import Path

from tradenet import devenv
from tradenet.serving import exit_with_parent

ROOT = Path(__file__).resolve().parent.parent
BANNER = """
  TradeNet is serving on {base}/
    your stations:  {base}/          (sign in as the superuser printed above, or an operator)
    galaxy map:     {base}/map/
    live feed:      {base}/live/
    API docs:       {base}/api/docs/
    admin:          {base}/admin/
  Ctrl-C stops it (and the embedded PostgreSQL it started).
"""


def announce_when_answering(server: subprocess.Popen, base: str, probe: str) -> None:
    """Print the banner as soon as `probe` answers (polling), or say that it never did."""
    deadline = time.monotonic() + 120
    while server.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{probe}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    print(BANNER.format(base=base), flush=True)
                    return
        except OSError:
            pass
        time.sleep(0.2)
    if server.poll() is None:
        print(f"TradeNet has not answered on {probe}/healthz within 120 s.\n", flush=True)


def main() -> int:
    exit_with_parent()
    devenv.load()
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    shown_host = f"[{host}]" if ":" in host else host
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
    threading.Thread(
        target=announce_when_answering,
        args=(server, f"http://{shown_host}:{port}", f"http://{probe_host}:{port}"),
        daemon=True,
    ).start()
    code = server.wait()
    if not os.environ.get("DATABASE_URL"):
        from tradenet import embedded_postgres

        embedded_postgres.stop_unless_in_use()
    return 128 + -code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
