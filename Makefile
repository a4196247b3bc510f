# Switchboard. `make run` starts the whole stack with demo data; `make test` runs the suite.
PY := .venv/bin/python
PIP := .venv/bin/pip
export REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test bench venv services stop vendor lint clean

.venv/.installed: requirements.txt
	@echo "==> creating .venv and installing requirements (pinned)"
	@test -x $(PY) || python3 -m venv .venv
	@$(PIP) install --progress-bar on -r requirements.txt
	@touch $@

venv: .venv/.installed

services:
	@scripts/neo4j start
	@scripts/redis start

run: venv
	@scripts/run

test: venv services
	@echo "==> pytest ($${DATABASE_URL:-sqlite})"
	@REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/1} SWITCHBOARD_CACHE_PREFIX=swb-test \
		$(PY) -m pytest $(PYTEST_ARGS)

bench: venv services
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
