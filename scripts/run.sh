#!/usr/bin/env bash
# Start everything the app needs (simulator unless a real key is set, worker, web) in the
# foreground; Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."

export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
procfile=Procfile
if [ -n "${KEEPA_API_KEY:-}" ]; then
  procfile=Procfile.keepa
  echo "Using the Keepa API at ${KEEPA_API_URL:-https://api.keepa.com} with your key."
else
  export KEEPA_API_URL="http://127.0.0.1:8765"
  export KEEPA_API_KEY="demo"
  echo "No KEEPA_API_KEY set: using the local Keepa simulator at $KEEPA_API_URL."
fi

.venv/bin/python manage.py migrate --verbosity 0
.venv/bin/python manage.py ensure_demo_user
echo "Open http://127.0.0.1:8000/ (Ctrl-C stops everything)"
exec .venv/bin/honcho -f "$procfile" start
