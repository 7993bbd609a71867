#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the test suite and
# prints its URL. Installs Debian's postgresql package when it is missing.
# Usage: eval "$(scripts/test-postgres.sh start)"; ...; scripts/test-postgres.sh stop
set -euo pipefail

port="${TEST_PG_PORT:-55432}"
dir="${TEST_PG_DIR:-/tmp/docs-mesh-test-pg}"

find_bin() {
  local found
  found="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  [ -n "$found" ] && [ -x "$found/pg_ctl" ] && echo "$found"
}

run_as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

case "${1:-start}" in
  start)
    bin="$(find_bin || true)"
    if [ -z "$bin" ]; then
      echo "test-postgres: installing postgresql from Debian packages" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq postgresql >&2
      bin="$(find_bin)"
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres "$dir"
      run_as_postgres "'$bin/initdb' -D '$dir/data' -U postgres --auth=trust -E UTF8 >/dev/null"
    fi
    if ! run_as_postgres "'$bin/pg_ctl' -D '$dir/data' status >/dev/null 2>&1"; then
      run_as_postgres "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start >&2"
    fi
    echo "export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    bin="$(find_bin)"
    run_as_postgres "'$bin/pg_ctl' -D '$dir/data' -m fast stop >&2" || true
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
