"""The development environment that `make run` writes once: `.env.development` (git-ignored).

It holds `DJANGO_DEBUG=1` and a secret key generated for this checkout, so that every
`manage.py` command the README shows works as written in a plain shell once `make run` has
run, and sessions survive a restart of `make run`. manage.py and `make run`'s server read it.

It is never read when DJANGO_DEBUG is set to a false value: production (deploy/start.sh sets
DJANGO_DEBUG=0, the Docker image does not contain the file) still refuses to start without
DJANGO_SECRET_KEY. Variables already in the environment win over the file.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FALSE = {"0", "false", "no", "off", ""}


def path() -> Path:
    return Path(os.environ.get("TRADENET_ENV_FILE") or ROOT / ".env.development")


def load() -> bool:
    """Read the file into os.environ (existing variables kept), unless DEBUG is set off.
    Returns whether it was read."""
    debug = os.environ.get("DJANGO_DEBUG")
    if debug is not None and debug.strip().lower() in FALSE:
        return False
    if not path().is_file():
        return False
    from dotenv import load_dotenv

    return load_dotenv(path(), override=False)


def ensure() -> Path:
    """Write the file if there is none (readable by its owner only)."""
    target = path()
    if not target.exists():
        key = secrets.token_urlsafe(50)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(
                "# Written by `make run` for this checkout only (git-ignored); delete it to get a\n"
                "# new secret key. Production never reads it: see tradenet/devenv.py.\n"
                "DJANGO_DEBUG=1\n"
                f"DJANGO_SECRET_KEY=dev-{key}\n"
            )
    return target


if __name__ == "__main__":
    target = ensure()
    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    print(f"Development settings: {shown} (DEBUG on, a secret key of its own)", file=sys.stderr)
