#!/usr/bin/env bash
# Production start: migrate (one replica at a time), gather static files, then serve
# (deploy/serve.sh). The Docker image runs this; so can a plain machine.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${DATABASE_URL:?Set DATABASE_URL, e.g. postgres://tradenet:secret@db:5432/tradenet}"
: "${DJANGO_SECRET_KEY:?Set DJANGO_SECRET_KEY to a long random value}"
export PYTHON="${PYTHON:-python}"
export DJANGO_DEBUG="${DJANGO_DEBUG:-0}"

# Migrations hold a session advisory lock: on the direct connection, never through a pooler.
DATABASE_URL="${DATABASE_DIRECT_URL:-$DATABASE_URL}" "$PYTHON" manage.py migrate_locked --verbosity 1
# Every start: it copies only what changed, and a manifest from an older version would make
# the server refuse to start (core/staticcheck.py). DJANGO_STATIC_ROOT says where.
"$PYTHON" manage.py collectstatic --noinput --verbosity 0

exec "$(dirname "$0")/serve.sh"
