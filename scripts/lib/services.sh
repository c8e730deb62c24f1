# shellcheck shell=bash
# Throwaway PostgreSQL cluster and moto S3 server for the test run. Source after common.sh.
# start_postgres / start_moto export TASKGATE_TEST_PG_URL / TASKGATE_TEST_S3_ENDPOINT;
# stop_services undoes both (safe to call twice, and when nothing was started).

PG_USER=taskgate-pg
PG_DIR=""
PG_BIN=""
MOTO_PID=""

start_postgres() {
  PG_BIN=$(pg_bindir) || die "PostgreSQL server binaries (initdb, pg_ctl) not found"
  command -v psql >/dev/null || die "psql not found"
  PG_DIR=$(mktemp -d /tmp/taskgate-pg.XXXXXX)
  if [[ $(id -u) -eq 0 ]]; then
    # PostgreSQL refuses to run as root: a system user of its own owns the cluster.
    if ! id -u "$PG_USER" >/dev/null 2>&1; then
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
    fi
    chown "$PG_USER" "$PG_DIR"
  fi
  chmod 700 "$PG_DIR"
  local port
  port=$(free_port)
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    >/dev/null || { cat "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
  export TASKGATE_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  psql "$TASKGATE_TEST_PG_URL" -qAtc 'select 1' >/dev/null || die "PostgreSQL does not answer on $port"
  log "PostgreSQL $("$PG_BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port (data $PG_DIR/data)"
}

# Run a PostgreSQL command as the cluster's owner (taskgate-pg under root, else the caller).
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$PG_USER" -- "$@"
  else
    "$@"
  fi
}

start_moto() {
  local port
  port=$(free_port)
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"${TEST_TMP}/moto.log" 2>&1 &
  MOTO_PID=$!
  wait_for_port "$port" 60 || { cat "${TEST_TMP}/moto.log" >&2; die "moto_server did not start"; }
  export TASKGATE_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  # moto accepts any key; S3 clients still want one.
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
  export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" AWS_REGION="${AWS_REGION:-us-east-1}"
  log "moto S3 on 127.0.0.1:$port (pid $MOTO_PID)"
}

stop_services() {
  if [[ -n $MOTO_PID ]]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=""
  fi
  if [[ -n $PG_DIR ]]; then
    if [[ -f $PG_DIR/data/postmaster.pid ]]; then
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
    PG_DIR=""
  fi
}
