"""One cluster (deploy/cluster/cluster.py up) for every test of this package, down after (its
logs copied to /var/tmp/tradenet-cluster-test-logs first). Each module skips itself where a
cluster cannot be made (support.why_not)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.deploy.cluster.support import CLUSTER, ROOT, STATE

KEPT_LOGS = STATE.with_name(STATE.name + "-test-logs")


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
        # The logs outlive the cluster, for whoever reads a failure.
        shutil.rmtree(KEPT_LOGS, ignore_errors=True)
        shutil.copytree(STATE / "logs", KEPT_LOGS, ignore_dangling_symlinks=True)
        subprocess.run([sys.executable, str(CLUSTER), "down"], cwd=ROOT, timeout=300)
