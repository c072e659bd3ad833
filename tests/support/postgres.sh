#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster (Debian's `postgresql` package) on a free loopback
# port in a temporary directory and prints its URL (without a database name). Tests create a
# database per data directory in it. `tests/support/postgres.sh stop DIR` stops it.
#   usage: tests/support/postgres.sh start DIR [durable] [tls]  -> prints postgres://postgres@127.0.0.1:PORT
# `durable` keeps PostgreSQL's durability (fsync, synchronous commit) for benchmarks.
# `tls` turns TLS on with a throw-away CA (DIR/tls/ca.crt) and a server certificate for
# `localhost`, made with openssl.
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
    tls=""
    for flag in "${@:3}"; do
      case "$flag" in
        durable) fast="" ;;
        tls)
          t="$dir/tls"; mkdir -p "$t"
          ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
          openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=shopd test CA" -keyout "$t/ca.key" -out "$t/ca.crt" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
          openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
          printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$t/ext"
          openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial -days 2 \
            -extfile "$t/ext" -out "$t/server.crt" 2>/dev/null
          chmod 600 "$t/server.key"; [ "$(id -u)" -eq 0 ] && chown -R postgres "$t"; chmod 755 "$t"; chmod 644 "$t/ca.crt"
          tls="-c ssl=on -c ssl_cert_file=$t/server.crt -c ssl_key_file=$t/server.key"
          ;;
      esac
    done
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=500 $fast $tls -c shared_buffers=128MB" >/dev/null
    echo "postgres://postgres@127.0.0.1:$port"
    ;;
  stop)
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    ;;
esac
