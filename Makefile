# The two commands of the README's quick start: `make run` and `make test`.
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
REDIS_SERVER ?= $(shell command -v redis-server 2>/dev/null)

.PHONY: run test lint format bench setup

setup:
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || python3 -m pip install --quiet --user uv
	@"$(UV)" sync --quiet --frozen

run: setup
	"$(UV)" run streamweaver-broker --dev

lint: setup
	"$(UV)" run ruff check .
	"$(UV)" run ruff format --check .

format: setup
	"$(UV)" run ruff format .
	"$(UV)" run ruff check --fix .

test: lint
	@"$(UV)" run pytest; rc=$$?; [ $$rc -eq 5 ] && rc=0; \
	if [ $$rc -eq 0 ] && [ -n "$(REDIS_SERVER)" ]; then \
	  echo "--- compatibility: the smoke tests against $(REDIS_SERVER)"; \
	  STREAMWEAVER_TEST_SERVER="$(REDIS_SERVER)" "$(UV)" run pytest -m redis_compat -q; \
	  rc=$$?; [ $$rc -eq 5 ] && rc=0; \
	fi; exit $$rc

bench: setup
	"$(UV)" run python bench/run_all.py
