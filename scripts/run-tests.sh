#!/usr/bin/env bash
# Starts a private PostgreSQL server on loopback for the run (when PostgreSQL is installed),
# runs pytest, and stops the server whatever happens.
set -uo pipefail
cd "$(dirname "$0")/.."
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PGDIR=""
cleanup() {
  if [ -n "$PGDIR" ]; then
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1
    else "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1; fi
    rm -rf "$PGDIR"
  fi
}
trap cleanup EXIT
if [ -n "$PGBIN" ] && [ -z "${CIVIC_TEST_POSTGRES_URL:-}" ]; then
  PGDIR=$(mktemp -d /tmp/civic-pg.XXXXXX)
  PORT=${CIVIC_TEST_PG_PORT:-54329}
  as_pg=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$PGDIR"; as_pg=(runuser -u postgres --); fi
  "${as_pg[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U civic --auth=trust -E UTF8 >/dev/null
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  export CIVIC_TEST_POSTGRES_URL="postgresql+psycopg://civic@127.0.0.1:$PORT/postgres"
fi
.venv/bin/python -m pytest "$@"
