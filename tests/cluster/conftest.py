"""One cluster (deploy/cluster/cluster.py up) for every test of this package, down after. Each
module skips itself where a cluster cannot be made (support.why_not)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cluster.support import CLUSTER, ROOT, STATE


@pytest.fixture(scope="package")
def cluster():
    up = subprocess.run([sys.executable, str(CLUSTER), "up"], cwd=ROOT, capture_output=True,
                        text=True, timeout=900)  # fmt: skip
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    info = dict(
        line.split("=", 1) for line in (STATE / "cluster.env").read_text().splitlines() if line
    )
    try:
        yield info
    finally:
        subprocess.run([sys.executable, str(CLUSTER), "down"], cwd=ROOT, timeout=300)
