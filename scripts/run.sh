#!/usr/bin/env bash
# Start everything the app needs (simulator unless a real key is set, worker, web) in the
# foreground; Ctrl-C stops them all and exits 0 once they have stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
export DEALS_PORT="${DEALS_PORT:-8000}"
export KEEPA_SIMULATOR_PORT="${KEEPA_SIMULATOR_PORT:-8765}"
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

# honcho runs in the background so that this script, not honcho, decides how a Ctrl-C ends:
# honcho sends SIGTERM to each process group (the worker drops its task; an interrupted sync
# is picked up by the next run) and SIGKILL after 5 s. Once everything has stopped, a
# requested stop is a success, so make prints no "Error 130".
stopping=0
stop() {
  stopping=1
  kill -TERM "$honcho" 2>/dev/null || true
}
trap stop INT TERM
.venv/bin/honcho -f "$procfile" start &
honcho=$!
status=0
while kill -0 "$honcho" 2>/dev/null; do
  wait "$honcho" && status=0 || status=$?
done
trap - INT TERM
if [ "$stopping" = 1 ]; then
  echo "Stopped."
  exit 0
fi
exit "$status"
