# shellcheck shell=bash
# Small helpers for scripts/test and bench/*.sh. Source it; needs `set -euo pipefail` in the caller.

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A free TCP port on 127.0.0.1 (the kernel's choice; tiny race until the user binds it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_port PORT SECONDS: until something accepts on 127.0.0.1:PORT.
wait_for_port() {
  local port=$1 deadline=$((SECONDS + $2))
  until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$port" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

APT_UPDATED=0
# apt_install PKG...: install Debian packages (root only); `apt-get update` once per run.
apt_install() {
  [[ $(id -u) -eq 0 ]] || die "need root to apt-get install $*"
  if ((APT_UPDATED == 0)); then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The directory holding PostgreSQL's initdb/pg_ctl (PATH first, then Debian's versioned dirs).
pg_bindir() {
  local initdb
  if initdb=$(command -v initdb 2>/dev/null); then
    dirname "$initdb"
    return
  fi
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb ]] && { echo "$d"; return; }
  done
  return 1
}
