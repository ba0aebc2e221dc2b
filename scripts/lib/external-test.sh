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

# start_demo DATA_DIR: starts a small demo on a free loopback port; sets DEMO_PID, DEMO_URL.
start_demo() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  env -u HISTORIAN_DATABASE_URL -u HISTORIAN_API_BIND -u HISTORIAN_API_TOKEN -u HISTORIAN_API_READ_TOKEN \
    "$(target_dir)/debug/modbus-historian" demo --devices 3 --registers 6 --interval 300ms \
    --data-dir "$1" --bind "127.0.0.1:$port" >"$1/demo.log" 2>&1 &
  DEMO_PID=$!
  DEMO_URL="http://127.0.0.1:$port"
  python3 - "$DEMO_URL/api/health" <<'PY' || { cat "$1/demo.log" >&2; return 1; }
import sys, time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit("the demo did not answer /api/health within 15 s")
PY
}

# stop_demo DATA_DIR: Ctrl-C, then the demo must exit 0 (every polled reading stored).
stop_demo() {
  kill -INT "$DEMO_PID" 2>/dev/null
  if ! wait "$DEMO_PID"; then
    echo "the demo did not stop cleanly:" >&2
    cat "$1/demo.log" >&2
    return 1
  fi
}
