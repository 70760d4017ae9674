#!/usr/bin/env bash
# The production web server: gunicorn with several workers, static files served by WhiteNoise,
# debug off. Collects the static files and migrates first, so a fresh checkout or a deploy of
# new code serves what it ships. Settings come from the environment (gunicorn.conf.py and
# dealsite/settings.py); the worker runs separately (`manage.py qcluster`).
set -euo pipefail
cd "$(dirname "$0")/.."

export DJANGO_DEBUG=false
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  echo "make serve needs DJANGO_SECRET_KEY (debug is off). Make one once and keep it, e.g.:" >&2
  echo "  export DJANGO_SECRET_KEY=\"\$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')\"" >&2
  exit 2
fi

.venv/bin/python manage.py collectstatic --noinput --verbosity 0
.venv/bin/python manage.py migrate --noinput --verbosity 0
exec .venv/bin/gunicorn --config gunicorn.conf.py
