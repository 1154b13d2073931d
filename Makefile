# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

NODE_TOOLS := dashboards/tools/node_modules/.package-lock.json

.PHONY: install demo test lint serve clean bench bench-quick soak browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[devhost,dev]'
	touch $(STAMP)

install: $(STAMP)

# Microsoft's Kusto parser, which checks the workbook queries, from the lockfile.
$(NODE_TOOLS): dashboards/tools/package-lock.json
	cd dashboards/tools && npm ci --no-audit --no-fund --loglevel=error

# The HTML run view is checked in a real headless browser: Debian's chromium, never a browser
# download. Without root this only says how to get it (the check then skips with the same hint).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "no chromium: 'sudo apt-get install -y chromium' to run the HTML view check"; fi; }

demo: install
	$(PY) -m devhost call POST /api/start-sub-orchestration --tree

test: install $(NODE_TOOLS) browser
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy function_app.py workflow.py telemetry devhost bench

bench: install
	$(PY) -m pytest bench -q -p no:randomly --benchmark-disable-gc --benchmark-columns=median,rounds

bench-quick: install
	BENCH_QUICK=1 $(PY) -m pytest bench -q --benchmark-columns=median,rounds

soak: install
	$(PY) -m bench.soak

serve: install
	$(PY) -m devhost start

clean:
	rm -rf $(VENV) .devhost dashboards/tools/node_modules
