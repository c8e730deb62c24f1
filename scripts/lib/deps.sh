# shellcheck shell=bash
# Installs what the tests need, each step skipped when already done. Source after common.sh;
# expects REPO and VENV set.

ensure_system_packages() {
  local pkgs=()
  pg_bindir >/dev/null || pkgs+=(postgresql)
  command -v psql >/dev/null || pkgs+=(postgresql-client)
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
  python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)
  command -v runuser >/dev/null || pkgs+=(util-linux)
  # The board page's end-to-end test drives Debian's Chromium (tests/node/board.mjs).
  [[ -x /usr/bin/chromium ]] || pkgs+=(chromium)
  # Whiteboard pushes encode with ffmpeg (libx264); the push tests probe streams with ffprobe.
  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || pkgs+=(ffmpeg)
  # tiw document transcoding: LibreOffice (headless, no GUI) turns Office files into PDF and
  # poppler's pdftoppm renders the pages.
  command -v soffice >/dev/null ||
    pkgs+=(libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui fonts-dejavu-core)
  command -v pdftoppm >/dev/null || pkgs+=(poppler-utils)
  if ((${#pkgs[@]})); then
    log "apt-get install ${pkgs[*]}"
    apt_install "${pkgs[@]}"
  fi
  command -v cargo >/dev/null || die "cargo not found (a Rust toolchain is expected on this machine)"
  if ! cargo nextest --version >/dev/null 2>&1; then
    log "cargo install cargo-nextest"
    cargo install --locked cargo-nextest
  fi
}

# .venv-test with tests/requirements.txt, reinstalled only when the requirements change.
ensure_venv() {
  local req="$REPO/tests/requirements.txt" stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ -x $VENV/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
    return
  fi
  log "Python venv $VENV"
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
  echo "$want" >"$stamp"
}

# tests/node/node_modules from the committed package-lock.json.
ensure_node_modules() {
  local dir="$REPO/tests/node" stamp="$REPO/tests/node/node_modules/.lock.sha256" want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    return
  fi
  log "npm ci (tests/node)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

# pytest-taskgate (clients/python) in .venv-test, reinstalled only when its files change. Its
# pytest11 entry point loads it in every pytest run of the venv; it starts nothing unless a test
# asks for its `taskgate` fixture.
ensure_pytest_plugin() {
  local dir="$REPO/clients/python" stamp="$VENV/.pytest-taskgate.sha256" want
  want=$(cd "$dir" && find pyproject.toml README.md src -type f ! -path '*.egg-info/*' ! -path '*__pycache__*' \
    -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    return
  fi
  log "pip install ./clients/python (pytest-taskgate)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q "$dir"
  # setuptools builds in the source tree; its leftovers are not part of the package.
  rm -rf "$dir/build" "$dir"/src/*.egg-info
  echo "$want" >"$stamp"
}
