# shellcheck shell=bash
# Sourced by scripts/start and scripts/test. Everything heavy (Odoo source, venv,
# PostgreSQL cluster) lives outside the clone so any checkout, in any folder, can reuse it.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
ADDON=bj_api_sync
# The addon to run; defaults to this repository (override only to try these scripts elsewhere).
BJ_ADDON_DIR="${BJ_ADDON_DIR:-$REPO_ROOT}"
# The Odoo tree decides the version that runs: 18.0 (the default) or 19.0.
ODOO_SRC="${ODOO_SRC:-/opt/odoo-18.0}"
SUPPORTED_SERIES=(18.0 19.0)
HOME="${HOME:-$(cd ~ && pwd)}"
BJ_CACHE="${BJ_CACHE:-$HOME/.cache/bj_api_sync}"
BJ_PYTHON="${BJ_PYTHON:-python3}"
PIP_CONSTRAINTS="$REPO_ROOT/scripts/pip-constraints.txt"
# Needed by Odoo's HttpCase browser tours, not listed in Odoo's requirements.txt.
EXTRA_PKGS=(websocket-client)
# PostgreSQL must be able to write here as user postgres, so not under $HOME.
BJ_STATE="${BJ_STATE:-/var/tmp/bj_api_sync}"
BJ_PGDATA="${BJ_PGDATA:-$BJ_STATE/pgdata}"
BJ_PGPORT="${BJ_PGPORT:-54329}"
PG_RUNDIR="$BJ_STATE/pgrun"   # socket and server log, written by user postgres
PG_LOG="$PG_RUNDIR/postgresql.log"
ODOO_DATA="$BJ_STATE/odoo-data"

mkdir -p "$BJ_CACHE" "$BJ_STATE"

log() { printf '==> %s\n' "$*"; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# Runs "$@" holding a lock, so concurrent start/test runs don't build the same venv or
# start the same cluster twice. Daemons started inside must get `9>&-`, or they keep the lock.
locked() { ( flock 9; "$@" ) 9>"$BJ_CACHE/lock"; }

# Debian packages; package lists are refreshed only if the plain install fails.
apt_install() {
  local apt_log="$BJ_CACHE/apt.log"
  local -x DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$@" >"$apt_log" 2>&1 && return 0
  { apt-get update -q && apt-get install -y -q "$@"; } >>"$apt_log" 2>&1 && return 0
  tail -n 20 "$apt_log" >&2
  return 1
}

# "18.0" or "19.0": the series of the tree at $ODOO_SRC; nothing if there is none.
odoo_series() {
  sed -n -E 's/^version_info = \(([0-9]+), ([0-9]+),.*/\1.\2/p' "$ODOO_SRC/odoo/release.py" 2>/dev/null | head -n1
}

# Sets ODOO_SERIES, and VENV and DB_SUFFIX after it: each series has its own virtualenv and databases.
ensure_odoo() {
  if [ ! -f "$ODOO_SRC/odoo-bin" ]; then
    local branch=18.0
    case "$ODOO_SRC" in *19.0*) branch=19.0 ;; esac
    log "odoo: not at $ODOO_SRC, cloning $branch from GitHub"
    GIT_TERMINAL_PROMPT=0 git clone -q -b "$branch" --depth 1 https://github.com/odoo/odoo.git "$ODOO_SRC" \
      || warn "odoo: git clone failed"
  fi
  ODOO_SERIES="$(odoo_series)"
  if [ ! -f "$ODOO_SRC/odoo-bin" ] || [[ " ${SUPPORTED_SERIES[*]} " != *" $ODOO_SERIES "* ]]; then
    die "no Odoo ${SUPPORTED_SERIES[*]} at $ODOO_SRC (found '${ODOO_SERIES:-nothing}'; set ODOO_SRC to an Odoo source tree, or let the script clone it: needs network)"
  fi
  VENV="${BJ_VENV:-$BJ_CACHE/venv-$ODOO_SERIES}"
  DB_SUFFIX="" WITH_DEMO=()
  if [ "$ODOO_SERIES" != 18.0 ]; then
    DB_SUFFIX="_${ODOO_SERIES%%.*}"
    # 19.0 installs demo data only when asked; the tests and the demo configurations expect it, as on 18.0.
    WITH_DEMO=(--with-demo)
  fi
  log "odoo: $ODOO_SERIES from $ODOO_SRC"
}

_venv_stamp() {
  { cat "$BJ_CACHE/requirements-$ODOO_SERIES.txt" "$PIP_CONSTRAINTS"; printf '%s\n' "${EXTRA_PKGS[@]}"; "$BJ_PYTHON" -V; } \
    | sha256sum | cut -c1-16
}

_ensure_venv() {
  # python-ldap needs system LDAP headers and is only used by auth_ldap; psycopg2 (19.0) would be
  # built from source: its binary wheel is the same library.
  tr -d '\r' <"$ODOO_SRC/requirements.txt" | grep -v -i '^python-ldap' \
    | sed -E 's/^psycopg2==/psycopg2-binary==/' >"$BJ_CACHE/requirements-$ODOO_SERIES.txt"
  local stamp
  stamp="$(_venv_stamp)"
  if [ "$(cat "$VENV/.bj-stamp" 2>/dev/null)" = "$stamp" ] \
      && "$VENV/bin/python" -c 'import psycopg2, lxml, werkzeug, websocket' 2>/dev/null; then
    log "venv: reusing $VENV"
    _ensure_test_packages
    return 0
  fi
  log "venv: building $VENV (under a minute)"
  rm -rf "$VENV"
  "$BJ_PYTHON" -m venv "$VENV"
  PIP_CONSTRAINT="$PIP_CONSTRAINTS" "$VENV/bin/pip" install --disable-pip-version-check --progress-bar off \
    -r "$BJ_CACHE/requirements-$ODOO_SERIES.txt" "${EXTRA_PKGS[@]}" >"$BJ_CACHE/pip-$ODOO_SERIES.log" 2>&1 \
    || { tail -n 30 "$BJ_CACHE/pip-$ODOO_SERIES.log" >&2; die "venv: pip install failed (full log: $BJ_CACHE/pip-$ODOO_SERIES.log)"; }
  # Written last: an interrupted install has no stamp and is rebuilt next time.
  echo "$stamp" >"$VENV/.bj-stamp"
  _ensure_test_packages
}
ensure_venv() { locked _ensure_venv; }

# The packages the addon's tests import (scripts/test-requirements.txt) are added to the venv when that file
# changes; never a reason to rebuild it, which would pull it from under a test run using it.
TEST_REQUIREMENTS="$REPO_ROOT/scripts/test-requirements.txt"
_ensure_test_packages() {
  local stamp
  stamp="$({ cat "$TEST_REQUIREMENTS"; "$BJ_PYTHON" -V; } | sha256sum | cut -c1-16)"
  [ "$(cat "$VENV/.bj-test-stamp" 2>/dev/null)" = "$stamp" ] && return 0
  log "venv: adding the test packages to $VENV"
  "$VENV/bin/pip" install --disable-pip-version-check --progress-bar off -r "$TEST_REQUIREMENTS" \
    >>"$BJ_CACHE/pip-$ODOO_SERIES.log" 2>&1 \
    || { tail -n 30 "$BJ_CACHE/pip-$ODOO_SERIES.log" >&2; die "venv: pip install of the test packages failed"; }
  echo "$stamp" >"$VENV/.bj-test-stamp"
}

# A tool's virtualenv of its own, pinned by a requirements file and rebuilt when that file changes:
#   _ensure_pinned_venv NAME VENV REQUIREMENTS (NAME labels the log lines and names $BJ_CACHE/pip-NAME.log).
_ensure_pinned_venv() {
  local name="$1" venv="$2" requirements="$3" stamp
  local pip_log="$BJ_CACHE/pip-$name.log"
  stamp="$({ cat "$requirements"; "$BJ_PYTHON" -V; } | sha256sum | cut -c1-16)"
  if [ "$(cat "$venv/.bj-stamp" 2>/dev/null)" = "$stamp" ]; then
    log "$name venv: reusing $venv"
    return 0
  fi
  log "$name venv: building $venv"
  rm -rf "$venv"
  "$BJ_PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off -r "$requirements" >"$pip_log" 2>&1 \
    || { tail -n 30 "$pip_log" >&2; die "$name venv: pip install failed (full log: $pip_log)"; }
  echo "$stamp" >"$venv/.bj-stamp"
}

# The linters and whool (scripts/lint, scripts/wheel-check), pinned by scripts/lint-requirements.txt.
LINT_REQUIREMENTS="$REPO_ROOT/scripts/lint-requirements.txt"
LINT_VENV="${BJ_LINT_VENV:-$BJ_CACHE/venv-lint}"
ensure_lint_venv() { locked _ensure_pinned_venv lint "$LINT_VENV" "$LINT_REQUIREMENTS"; }

# The fuzzer of the inbound endpoints (schemathesis, run by tests/test_inbound_fuzz.py), pinned by
# scripts/fuzz-requirements.txt.
FUZZ_REQUIREMENTS="$REPO_ROOT/scripts/fuzz-requirements.txt"
FUZZ_VENV="${BJ_FUZZ_VENV:-$BJ_CACHE/venv-fuzz}"
ensure_fuzz_venv() { locked _ensure_pinned_venv fuzz "$FUZZ_VENV" "$FUZZ_REQUIREMENTS"; }

as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$BJ_PGPORT" "$@"; }

# A postmaster.pid left by a killed server (or a reboot) may name a pid now used by
# another process; the real postmaster has the data directory as its cwd.
_postmaster_alive() {
  local pid
  pid="$(head -n1 "$BJ_PGDATA/postmaster.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$(cd "$BJ_PGDATA" && pwd -P)" ]
}

_ensure_pg_running() {
  mkdir -p "$BJ_PGDATA" "$PG_RUNDIR"
  if is_root; then chown postgres:postgres "$BJ_PGDATA" "$PG_RUNDIR"; fi
  chmod 700 "$BJ_PGDATA"
  if [ ! -s "$BJ_PGDATA/PG_VERSION" ]; then
    log "postgres: initdb $BJ_PGDATA"
    as_pg "$PG_BIN/initdb" -D "$BJ_PGDATA" -U postgres --auth=trust -E UTF8 --locale=C \
      >"$BJ_STATE/initdb.log" 2>&1 || { cat "$BJ_STATE/initdb.log" >&2; die "postgres: initdb failed"; }
  fi
  if _postmaster_alive; then
    log "postgres: reusing running cluster $BJ_PGDATA"
  else
    rm -f "$BJ_PGDATA/postmaster.pid" "$PG_RUNDIR"/.s.PGSQL.*
    log "postgres: starting on 127.0.0.1:$BJ_PGPORT"
    # Disposable dev/CI cluster: durability is traded for speed.
    as_pg "$PG_BIN/pg_ctl" -D "$BJ_PGDATA" -l "$PG_LOG" -w -t 60 -o \
      "-c listen_addresses=127.0.0.1 -p $BJ_PGPORT -k '$PG_RUNDIR' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null 9>&- || { tail -n 20 "$PG_LOG" >&2; die "postgres: failed to start"; }
  fi
}

# Newest installed server version, e.g. /usr/lib/postgresql/15/bin; nothing if none.
_pg_bin() { { ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null || true; } | sort -V | tail -n1 | xargs -r dirname; }

ensure_postgres() {
  PG_BIN="$(_pg_bin)"
  if [ -z "$PG_BIN" ]; then
    is_root || die "postgres: server binaries not found (install the Debian package postgresql)"
    log "postgres: installing the Debian package postgresql"
    apt_install postgresql || die "postgres: apt-get install postgresql failed"
    PG_BIN="$(_pg_bin)"
    [ -n "$PG_BIN" ] || die "postgres: still no initdb under /usr/lib/postgresql after installing"
  fi
  locked _ensure_pg_running
  "$PG_BIN/pg_isready" -q -U postgres -h 127.0.0.1 -p "$BJ_PGPORT" -t 30 \
    || die "postgres: cluster $BJ_PGDATA does not answer on 127.0.0.1:$BJ_PGPORT (see $PG_LOG)"
  # Odoo refuses to connect as the superuser postgres.
  pg_psql -U postgres -d postgres -c \
    "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'odoo') THEN CREATE ROLE odoo LOGIN CREATEDB; END IF; END \$\$;"
}

# Tours (HttpCase.start_tour) need it; without it Odoo skips them, so failing here only warns.
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then log "chromium: found"; return 0; fi
  if ! is_root; then warn "chromium: /usr/bin/chromium missing, browser tours will be skipped"; return 0; fi
  log "chromium: installing the Debian package chromium"
  apt_install chromium || warn "chromium: install failed, browser tours will be skipped"
}

# Prints the database's state of the addon (installed, to install...), nothing if it has none.
module_state() {
  pg_psql -U odoo -d "$1" -tA -c "SELECT state FROM ir_module_module WHERE name = '$ADDON'" 2>/dev/null || true
}

ensure_addon() {
  [ -f "$BJ_ADDON_DIR/__manifest__.py" ] || die "addon: no __manifest__.py in $BJ_ADDON_DIR"
  log "addon: $ADDON from $BJ_ADDON_DIR"
}

# Odoo wants the addon in a folder named after it; the clone may be named anything.
addons_path() {
  local dir
  dir="$BJ_CACHE/addons-$(printf '%s' "$BJ_ADDON_DIR" | sha256sum | cut -c1-12)"
  mkdir -p "$dir"
  ln -sfn "$BJ_ADDON_DIR" "$dir/$ADDON"
  printf '%s' "$ODOO_SRC/addons,$ODOO_SRC/odoo/addons,$dir"
}

# Runs odoo-bin on the private cluster; `odoo_bin --exec ARGS` replaces the shell with it.
# --config=/dev/null keeps a developer's ~/.odoorc out of the picture.
odoo_bin() {
  local run=() ap
  if [ "${1:-}" = --exec ]; then run=(exec); shift; fi
  ap="$(addons_path)" || return 1
  "${run[@]}" "$VENV/bin/python" "$ODOO_SRC/odoo-bin" --config=/dev/null \
    --db_host=127.0.0.1 --db_port="$BJ_PGPORT" --db_user=odoo \
    --addons-path="$ap" --data-dir="$ODOO_DATA" "$@"
}
