#!/bin/sh
# The cluster profile's streaming replica: a base backup of the primary on first start, then a
# hot standby following it.
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until PGPASSWORD="$POSTGRES_PASSWORD" pg_basebackup -h db -U "$POSTGRES_USER" -D "$PGDATA" \
      --write-recovery-conf --wal-method=stream --checkpoint=fast; do
    echo "waiting for the primary..."; rm -rf "$PGDATA"/*; sleep 2
  done
  chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on
