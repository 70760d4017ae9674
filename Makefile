# Two commands set everything up: `make run` and `make test` (the suite on SQLite, then on
# PostgreSQL when a server is reachable; see scripts/test_postgres.py).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run serve test lint format bench clean clean-db

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	./scripts/run.sh

# The production server (gunicorn + WhiteNoise); needs DJANGO_SECRET_KEY (see README, "Deploying").
serve: $(VENV)/.installed
	./scripts/serve.sh

test: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	DATABASE_URL= $(PY) -m pytest
	$(PY) scripts/test_postgres.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed-dev
	$(PY) -m bench.run

clean: clean-db
	rm -rf $(VENV)

# The app's database and every test database, with SQLite's -wal and -shm companions.
clean-db:
	rm -f var/*.sqlite3 var/*.sqlite3-wal var/*.sqlite3-shm var/*.sqlite3-journal
