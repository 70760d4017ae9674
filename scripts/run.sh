#!/usr/bin/env bash
# Start everything the app needs (simulator unless a real key is set, worker, web) in the
# foreground; Ctrl-C stops them all and exits 0 once they have stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
export DEALS_PORT="${DEALS_PORT:-8000}"
export KEEPA_SIMULATOR_PORT="${KEEPA_SIMULATOR_PORT:-8765}"
# The address alert messages link to follows the port unless it is set (a proxy, a domain).
export DEALS_BASE_URL="${DEALS_BASE_URL:-http://127.0.0.1:${DEALS_PORT}}"
procfile=Procfile
if [ -n "${KEEPA_API_KEY:-}" ]; then
  procfile=Procfile.keepa
  echo "Using the Keepa API at ${KEEPA_API_URL:-https://api.keepa.com} with your key."
else
  export KEEPA_API_URL="http://127.0.0.1:${KEEPA_SIMULATOR_PORT}"
  export KEEPA_API_KEY="demo"
  echo "No KEEPA_API_KEY set: using the local Keepa simulator at $KEEPA_API_URL."
fi

.venv/bin/python manage.py migrate --verbosity 0
.venv/bin/python manage.py ensure_demo_user
echo "Open http://127.0.0.1:${DEALS_PORT}/ (Ctrl-C stops everything)"

# A Ctrl-C must reach honcho alone: make, seeing it too, would report "Interrupt" or
# "Error 130" however cleanly everything stopped. With job control on, honcho runs in a
# process group of its own, which the terminal gets while honcho runs in the foreground; on
# Ctrl-C honcho sends SIGTERM to each process (the worker drops a task it cannot finish in
# 3 s; the next run redoes it) and SIGKILL after 5 s. A requested stop is a success: exit 0.
# Without a terminal (a supervisor, a test) honcho runs in the background and a SIGINT or
# SIGTERM to this script is passed on to it.
stopping=0
stop() {
  stopping=1
  kill -TERM "$honcho" 2>/dev/null || true
}
status=0
if [ -t 0 ]; then
  set -m
  .venv/bin/honcho -f "$procfile" start || status=$?
  # 130: honcho stopped on SIGINT (Ctrl-C); 143: on SIGTERM.
  if [ "$status" = 130 ] || [ "$status" = 143 ]; then stopping=1; fi
else
  trap stop INT TERM
  .venv/bin/honcho -f "$procfile" start &
  honcho=$!
  while kill -0 "$honcho" 2>/dev/null; do
    wait "$honcho" && status=0 || status=$?
  done
  trap - INT TERM
fi
if [ "$stopping" = 1 ]; then
  echo "Stopped."
  exit 0
fi
exit "$status"
