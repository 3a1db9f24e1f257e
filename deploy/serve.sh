#!/usr/bin/env bash
# The serving model, in one place (make run, deploy/start.sh and the Docker image use it):
# uvicorn with WEB_CONCURRENCY worker processes; in each, event streams on the event loop and
# Django's views on TRADENET_WEB_THREADS threads (tradenet/asgi.py). Why: docs/performance.md#serving-model.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

# Metrics of all workers, aggregated by prometheus_client from one directory, emptied at
# every start (its files are the previous processes' figures). One per port by default, so
# two servers on one machine (make run beside a production tree) never mix their figures.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${TMPDIR:-/tmp}/tradenet-metrics-${PORT:-8000}}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

# The master's pid (exec keeps it): its workers exit if it is gone (tradenet/serving.py).
export TRADENET_SERVER_PID=$$
# An idle connection is kept KEEP_ALIVE_TIMEOUT seconds (75): longer than HAProxy keeps a
# client's (`timeout http-keep-alive 60s`, deploy/cluster) and than clients' own pools, so the
# other end closes an idle connection first and no request is sent on one the server is closing
# (uvicorn's default, 5 s, lost such POSTs). docs/deployment.md#keep-alive
# tradenet.serve: uvicorn, with the exporters in its main process (why: its docstring).
exec "$PYTHON" -m tradenet.serve tradenet.asgi:application \
  --http tradenet.serving:GuardedHttpToolsProtocol \
  --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
  --workers "${WEB_CONCURRENCY:-4}" \
  --timeout-graceful-shutdown "${GRACEFUL_TIMEOUT:-10}" \
  --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
  --backlog "${BACKLOG:-2048}" \
  --timeout-keep-alive "${KEEP_ALIVE_TIMEOUT:-75}" \
  --no-access-log
