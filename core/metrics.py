"""The registry every app's Prometheus metrics join (`registry=METRICS`), rendered at /metrics
by core.observability: each app declares its metrics beside its code (trades/metrics.py,
updates/streams/metrics.py), and nothing here names them."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry

# Process-local metrics; with PROMETHEUS_MULTIPROC_DIR set (several workers), prometheus_client
# aggregates them across the workers' files. It writes there as soon as a metric is made and
# fails with a traceback if the directory is missing (deploy/start.sh makes it; a manage.py
# command run with the production environment before the first start did not find it).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

METRICS = CollectorRegistry(auto_describe=True)
