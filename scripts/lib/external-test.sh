# Shared by the tests that scripts/test runs outside cargo (browser, contract): how they
# report a missing prerequisite, and a demo to run them against.
#
# A missing prerequisite skips the test by name (on stdout and in $HISTORIAN_SKIP_LOG, as
# the testkit's report_skip does), except with CI=true, where it fails loudly.

in_ci() { [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; }

# skip NAME REASON: exits the script.
skip() {
  if in_ci; then
    echo "FAILED $1: needed tool missing under CI=true: $2" >&2
    exit 1
  fi
  echo "SKIPPED $1: $2"
  if [ -n "${HISTORIAN_SKIP_LOG:-}" ]; then
    echo "SKIPPED $1: $2" >>"$HISTORIAN_SKIP_LOG"
  fi
  exit 0
}

target_dir() { echo "${CARGO_TARGET_DIR:-$PWD/target}"; }

# free_port: prints a free loopback port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_healthy URL LOG: waits up to 15 s for URL/api/health; shows LOG on failure.
wait_healthy() {
  python3 - "$1/api/health" <<'PY' || { cat "$2" >&2; return 1; }
import sys, time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit("the historian did not answer /api/health within 15 s")
PY
}

# start_demo DATA_DIR: starts a small demo on a free loopback port; sets DEMO_PID, DEMO_URL.
start_demo() {
  local port
  port=$(free_port)
  env -u HISTORIAN_DATABASE_URL -u HISTORIAN_API_BIND -u HISTORIAN_API_TOKEN -u HISTORIAN_API_READ_TOKEN \
    "$(target_dir)/debug/modbus-historian" demo --devices 3 --registers 6 --interval 300ms \
    --data-dir "$1" --bind "127.0.0.1:$port" >"$1/demo.log" 2>&1 &
  DEMO_PID=$!
  DEMO_URL="http://127.0.0.1:$port"
  wait_healthy "$DEMO_URL" "$1/demo.log"
}

# start_managed DATA_DIR TOKEN: starts a historian whose devices live in its store (SQLite
# in DATA_DIR) and are managed through the API, writes needing TOKEN, on a free loopback
# port; sets MANAGED_PID, MANAGED_URL.
start_managed() {
  local port
  port=$(free_port)
  cat >"$1/historian.toml" <<EOF
[storage]
url = "sqlite://$1/historian.db"

[api]
bind = "127.0.0.1:$port"
token = "$2"

[spool]
dir = "$1/spool"
EOF
  env -u HISTORIAN_DATABASE_URL -u HISTORIAN_API_BIND -u HISTORIAN_API_TOKEN -u HISTORIAN_API_READ_TOKEN \
    "$(target_dir)/debug/modbus-historian" run --config "$1/historian.toml" \
    >"$1/managed.log" 2>&1 &
  MANAGED_PID=$!
  MANAGED_URL="http://127.0.0.1:$port"
  wait_healthy "$MANAGED_URL" "$1/managed.log"
}

# stop_demo DATA_DIR: Ctrl-C, then the demo must exit 0 (every polled reading stored).
stop_demo() {
  stop_cleanly "$DEMO_PID" "$1/demo.log"
}

# stop_cleanly PID LOG: Ctrl-C, then the process must exit 0; shows LOG otherwise.
stop_cleanly() {
  kill -INT "$1" 2>/dev/null
  if ! wait "$1"; then
    echo "the historian did not stop cleanly:" >&2
    cat "$2" >&2
    return 1
  fi
}
