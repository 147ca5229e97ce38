#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the test suite and print how to reach it.
#
#   eval "$(bash .ci/postgres.sh)"     # sets TEST_POSTGRES_URL
#   bash .ci/postgres.sh stop          # stops the cluster and deletes its files
#
# Runs PostgreSQL $PG_MAJOR, the major version of docker-compose.yml's database image (tests/test_container_files.py
# checks the two agree, and this script refuses a server of another major), installing Debian's
# `postgresql-$PG_MAJOR` package when its binaries are not found. The cluster lives in
# $PGTEST_DIR (default /tmp/videobot-pg), listens on 127.0.0.1 only (first free port from $PGTEST_PORT,
# default 54329) and runs as the `postgres` system user, because initdb refuses to run as root.
# Running it again while the cluster is up just prints the line again. Only the export line goes to
# stdout; progress goes to stderr.
set -euo pipefail

PGTEST_DIR="${PGTEST_DIR:-/tmp/videobot-pg}"
PGTEST_PORT="${PGTEST_PORT:-54329}"
PG_MAJOR=15
DB_NAME="videobot_test"
DB_USER="videobot"
DB_PASSWORD="videobot"
DATA="$PGTEST_DIR/data"
PORT_FILE="$PGTEST_DIR/port"

say() { echo "postgres.sh: $*" >&2; }

# A folder holding every binary this script runs (PATH entries are often lone symlinks, so resolve them).
has_all() {
    local tool
    for tool in initdb pg_ctl pg_isready psql; do
        [[ -x "$1/$tool" ]] || return 1
    done
}

# The major version of the pg_ctl in a folder ("15" from "pg_ctl (PostgreSQL) 15.18 (Debian ...)").
major_of() {
    "$1/pg_ctl" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/'
}

find_bindir() {
    local dir
    # Debian keeps the server binaries off PATH, one folder per major version.
    dir="/usr/lib/postgresql/$PG_MAJOR/bin"
    if has_all "$dir"; then
        echo "$dir"
        return 0
    fi
    if command -v pg_ctl >/dev/null 2>&1; then
        dir="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
        if has_all "$dir" && [[ "$(major_of "$dir")" == "$PG_MAJOR" ]]; then
            echo "$dir"
            return 0
        fi
    fi
    return 1
}

install_postgres() {
    say "no PostgreSQL $PG_MAJOR server found; installing Debian's postgresql-$PG_MAJOR package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends "postgresql-$PG_MAJOR" >&2 || {
        say "postgresql-$PG_MAJOR is not in this system's packages: docker-compose.yml runs PostgreSQL $PG_MAJOR;" \
            "change PG_MAJOR here and compose's image together to a major this system ships"
        return 1
    }
}

# Run a command as the cluster's owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [[ "$(id -u)" == "0" ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

is_running() {
    [[ -f "$DATA/PG_VERSION" ]] && as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_admin() {
    as_owner "$BINDIR/psql" -h "$PGTEST_DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

BINDIR="$(find_bindir || true)"
if [[ -z "$BINDIR" ]]; then
    install_postgres
    BINDIR="$(find_bindir)" || { say "PostgreSQL $PG_MAJOR binaries still not found after installing"; exit 1; }
fi

if [[ "${1:-}" == "stop" ]]; then
    if is_running; then
        as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >&2
    fi
    rm -rf "$PGTEST_DIR"
    say "stopped and removed $PGTEST_DIR"
    exit 0
fi

if [[ "$(id -u)" == "0" ]] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir "$PGTEST_DIR" --shell /bin/bash postgres
fi

mkdir -p "$PGTEST_DIR"
if [[ "$(id -u)" == "0" ]]; then
    chown postgres: "$PGTEST_DIR"
fi
chmod 700 "$PGTEST_DIR"

if is_running; then
    PORT="$(cat "$PORT_FILE")"
    say "cluster already running in $PGTEST_DIR on port $PORT"
else
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        say "creating cluster in $DATA with $BINDIR"
        as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            --encoding=UTF8 --locale=C >&2
    fi
    PORT="$PGTEST_PORT"
    while port_in_use "$PORT"; do
        PORT=$((PORT + 1))
    done
    echo "$PORT" >"$PORT_FILE"
    # Durability is pointless for a throwaway test database; turning it off makes the suite faster. Autovacuum
    # too: its workers belong to the superuser, so a test dropping its database WITH (FORCE) while one is
    # vacuuming it would fail for want of the right to stop it.
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$PGTEST_DIR/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGTEST_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off -c max_connections=200" >&2
    say "started on 127.0.0.1:$PORT (log: $PGTEST_DIR/server.log)"
fi

ready=""
for _ in $(seq 1 60); do
    if as_owner "$BINDIR/pg_isready" -h "$PGTEST_DIR" -p "$PORT" -q; then
        ready=1
        break
    fi
    sleep 0.5
done
if [[ -z "$ready" ]]; then
    say "server on port $PORT did not become ready; see $PGTEST_DIR/server.log"
    exit 1
fi

# A cluster left by another major version would test against a server compose does not run.
served="$(psql_admin -c "SELECT current_setting('server_version_num')::int / 10000")"
if [[ "$served" != "$PG_MAJOR" ]]; then
    say "the server on port $PORT is PostgreSQL $served, not $PG_MAJOR: run 'bash .ci/postgres.sh stop' and start again"
    exit 1
fi

# The test user may create databases: the tests give every test a database of its own.
if [[ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" != "1" ]]; then
    psql_admin -c "CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD'"
fi
if [[ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != "1" ]]; then
    psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"
fi

echo "export TEST_POSTGRES_URL=postgresql+asyncpg://$DB_USER:$DB_PASSWORD@127.0.0.1:$PORT/$DB_NAME"
