"""Where a server worker's Python goes under a benchmark's load: py-spy samples one worker and
this folds its stacks into inclusive shares of the project's own functions and the libraries'
entry points (docs/performance.md, "Where a trade's CPU goes")."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def py_spy() -> str | None:
    """py-spy from the venv or PATH (`pip install py-spy`), or None."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class WorkerProfile:
    """`py-spy record` on one pid for `seconds`, started by `start()`, read by `top()`.

    `--gil` keeps only the samples of the thread holding the interpreter: the shares are of the
    Python work that competes for the core, not of threads parked waiting for a request."""

    def __init__(self, pid: int, seconds: int, rate: int = 100):
        self.pid, self.seconds, self.rate = pid, seconds, rate
        self.output = Path(tempfile.mkstemp(suffix=".txt", prefix="tradenet-profile-")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        tool = py_spy()
        if tool is None:
            sys.exit("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.process = subprocess.Popen(
            [
                tool,
                "record",
                "--pid",
                str(self.pid),
                "--duration",
                str(self.seconds),
                "--rate",
                str(self.rate),
                "--gil",
                "--format",
                "raw",
                "--output",
                str(self.output),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def top(self, count: int = 30) -> tuple[int, list[tuple[float, str]], list[tuple[float, str]]]:
        """(samples, inclusive, own): the frames that most samples pass through (each counted
        once per sample however deep it recurs), leaving out the request's own chain of
        handlers that nearly every sample passes through; and the frames most samples are in."""
        assert self.process is not None
        _, err = self.process.communicate(timeout=self.seconds + 60)
        text = self.output.read_text() if self.output.exists() else ""
        self.output.unlink(missing_ok=True)
        if not text.strip():
            sys.exit(f"py-spy recorded nothing: {err[-2000:]}")
        samples = 0
        inclusive: Counter[str] = Counter()
        own: Counter[str] = Counter()
        for line in text.splitlines():
            stack, _, weight = line.rpartition(" ")
            n = int(weight)
            samples += n
            frames = [name for name in map(frame_name, stack.split(";")) if name]
            for frame in set(frames):
                inclusive[frame] += n
            if frames:
                own[frames[-1]] += n
        ranked = [
            (n / samples, frame) for frame, n in inclusive.most_common() if n / samples < CHAIN
        ]
        mine = [(n / samples, frame) for frame, n in own.most_common(count)]
        return samples, ranked[:count], mine


# A frame in more than this share of the samples is the request's chain of handlers and
# middleware, which says nothing of where the time goes.
CHAIN = 0.75


def frame_name(frame: str) -> str:
    """`function (path:line)` -> `module.function`, the path relative to the project or to
    site-packages; frames of the interpreter's own machinery are dropped."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    module = path.removesuffix(".py").replace("/", ".")
    if module.startswith(("threading", "concurrent.futures", "asyncio.", "selectors")):
        return ""
    return f"{module}.{name}"


def print_profile(samples: int, ranked, own, pid: int) -> None:
    print(
        f"\nWhere one worker's Python went (py-spy --gil, pid {pid}, {samples} samples); "
        "inclusive, below the request's chain:"
    )
    for share, frame in ranked:
        print(f"  {share:6.1%}  {frame}")
    print("  the frames the samples were in (own time):")
    for share, frame in own:
        print(f"  {share:6.1%}  {frame}")
