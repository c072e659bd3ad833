#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster (Debian's `postgresql` package) on a free loopback
# port in a temporary directory and prints its URL (without a database name). Tests create a
# database per data directory in it. `tests/support/postgres.sh stop DIR` stops it.
#   usage: tests/support/postgres.sh start DIR [durable]  -> prints postgres://postgres@127.0.0.1:PORT
# `durable` keeps PostgreSQL's durability (fsync, synchronous commit) for benchmarks.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed (Debian package postgresql)" >&2; exit 1; }
# initdb and postgres refuse to run as root: use the package's postgres user then.
as=()
if [ "$(id -u)" -eq 0 ]; then as=(runuser -u postgres --); fi
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
    # Throw-away test data: fsync off makes database creation per test fast. Durability is
    # measured by the benches on real settings (`durable`); the kill tests kill shopd, not it.
    fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${3:-}" = "durable" ] && fast=""
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=500 $fast -c shared_buffers=128MB" >/dev/null
    echo "postgres://postgres@127.0.0.1:$port"
    ;;
  stop)
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    ;;
esac
