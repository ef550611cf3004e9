# Emo7ion: `make demo` and `make test` do all set-up on a fresh machine (see README).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Use the YuNet detector when its weights are beside the project (../shared) and none is configured.
SHARED_YUNET := $(wildcard ../shared/models/yunet/yunet_n_640_640.onnx)
ifneq ($(SHARED_YUNET),)
EMO7ION_YUNET_MODEL ?= $(abspath $(SHARED_YUNET))
export EMO7ION_YUNET_MODEL
endif

.PHONY: install demo test test-fast bench bench-deps browser-deps migrate serve serve-prod worker live-worker clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the Playwright browser tests (Playwright's own browser download is not used).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "Could not install chromium: browser tests will skip (or fail under CI)."; }

migrate: install
	$(PY) manage.py migrate --noinput

demo: install migrate
	$(PY) manage.py demo --host $(HOST) --port $(PORT)

test: install browser-deps
	$(VENV)/bin/lint-imports --no-cache
	@set -a; eval "$$($(PY) scripts/test_env.py)"; set +a; \
	  $(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	@set -a; eval "$$($(PY) scripts/test_env.py)"; set +a; \
	  $(PY) -m pytest -m "not browser and not slow" $(PYTEST_ARGS)

# The `fer` package, the benchmarks' anchor (optional; see requirements-bench.txt for why --no-deps).
bench-deps: install
	@$(PY) -c "import fer" 2>/dev/null || $(PY) -m pip install --quiet --no-deps -r requirements-bench.txt

bench: install bench-deps
	@set -a; eval "$$($(PY) scripts/test_env.py)"; set +a; \
	  $(PY) benchmarks/run_all.py

serve: install
	$(PY) manage.py runserver $(HOST):$(PORT)

# The production layout in one command (manage.py serve): daphne (ASGI), a Celery worker, beat and, with
# REDIS_URL, the live worker; Ctrl-C stops them all. PostgreSQL, Redis and S3 come from the environment
# (README, "Production"); DJANGO_SETTINGS_MODULE defaults to the production settings here.
serve-prod: install
	export DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-emo7ion_site.settings.production}; \
	  $(PY) manage.py migrate --noinput && $(PY) manage.py serve --host $(HOST) --port $(PORT)

worker: install
	$(PY) -m celery -A emo7ion_site worker -Q ml,training,default --pool=solo --concurrency=1 --loglevel=INFO

# The live worker (live sessions, photo scoring) as its own process: needs REDIS_URL (the Redis channel
# layer). Without it, the ASGI server (`make serve`, `make demo`) runs an embedded live worker itself.
live-worker: install
	$(PY) manage.py live_worker

clean:
	rm -rf var/test-media var/test-db.sqlite3 var/celery
