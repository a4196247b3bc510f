# Switchboard. `make run` starts the whole stack with demo data; `make test` runs the suite.
# Both first install the Debian packages the machine lacks (scripts/prereqs).
PY := .venv/bin/python
PIP := .venv/bin/pip
export REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test test-unit lint postgres bench venv services stop vendor clean

.venv/.installed: requirements.txt
	@scripts/prereqs venv
	@echo "==> creating .venv and installing requirements (pinned)"
	@test -x $(PY) || python3 -m venv .venv
	@$(PIP) install --progress-bar on -r requirements.txt
	@touch $@

venv: .venv/.installed

services:
	@scripts/prereqs run
	@scripts/neo4j start
	@scripts/redis start

# Each command installs what it needs before it starts anything (the recipe lines run in order).
run:
	@scripts/prereqs run
	@$(MAKE) -s --no-print-directory venv
	@scripts/run

# Every test, against real Neo4j, Redis, Celery workers, Chromium and nginx. Neo4j and Redis are
# started unless they answer, and stopped afterwards if this command started them.
test:
	@scripts/prereqs test
	@$(MAKE) -s --no-print-directory venv
	@scripts/test $(PYTEST_ARGS)

# Pure tests (marked `unit`): no server, no database.
test-unit: venv
	@scripts/test --unit $(PYTEST_ARGS)

# ruff (lint and format), import-linter contracts (.importlinter), migrations, Django checks.
# Runs every check, then fails if any failed.
lint: venv
	@fail=; \
	for check in "ruff check ." "ruff format --check ." "lint-imports" \
	             "python manage.py makemigrations --check --dry-run" "python manage.py check"; do \
	  echo "==> $$check"; \
	  set -- $$check; tool=$$1; shift; \
	  .venv/bin/$$tool "$$@" || fail="$$fail\n    $$check"; \
	done; \
	if [ -n "$$fail" ]; then printf "==> lint failed:$$fail\n" >&2; exit 1; fi; \
	echo "==> lint passed"

# A local PostgreSQL cluster with the switchboard role and database (idempotent); prints the
# DATABASE_URL to run with, e.g. DATABASE_URL=... make test
postgres:
	@scripts/prereqs postgres
	@scripts/postgres

bench:
	@scripts/prereqs bench
	@$(MAKE) -s --no-print-directory venv services
	@REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/2} SWITCHBOARD_CACHE_PREFIX=swb-bench \
		$(PY) -m bench $(BENCH_ARGS)

stop:
	@scripts/neo4j stop
	@scripts/redis stop

# Front-end assets are vendored (committed under static/vendor) so the portal works
# air-gapped; this target refreshes them from npm at the versions pinned in package.json.
vendor:
	@scripts/vendor

clean:
	rm -rf var db.sqlite3* .pytest_cache
