#!/bin/sh
# Runs once, when the primary's data directory is created (docker-entrypoint-initdb.d): lets
# the replica of the cluster profile stream from it with the same credentials.
set -e
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
