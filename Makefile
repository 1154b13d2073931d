# Two commands do everything on a fresh clone: `make demo` and `make test`.
# Python 3.13: what new Function apps get on Azure, and what azure-functions-runtime needs.
# The first interpreter that really is 3.13 wins (pyenv's shim answers even when it cannot run
# 3.13); PYTHON=/path/to/python3.13 overrides.
PYTHON ?= $(shell for c in python3.13 "$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13 \
  /usr/local/bin/python3.13 /usr/bin/python3.13 python3; do \
  "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 \
  && { echo "$$c"; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

NODE_TOOLS := dashboards/tools/node_modules/.package-lock.json
# The FunctionRpc messages devhost and its worker speak, compiled from the .proto files the
# project keeps (never committed, never edited) by setup.py: in every wheel the build makes,
# next to the .proto files in an editable install (so `make install` compiles them), and by
# `make proto` after a .proto changed.
PROTOS := $(wildcard devhost/rpc/*.proto)
PROTO_OUT := devhost/rpc/FunctionRpc_pb2.py

.PHONY: install proto demo test test-fast lint serve clean bench bench-quick soak browser lock package wheelhouse portal-pictures

# Installs exactly what requirements.lock pins (the versions the tests passed with), so a new
# release of a dependency cannot change a fresh machine. A venv of another Python is rebuilt.
$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: install it (e.g. 'pyenv install 3.13')" \
	  "or run make PYTHON=/path/to/python3.13"; exit 1; }
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null || rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]' --group app
	touch $(STAMP)

$(PROTO_OUT): $(PROTOS) setup.py | $(STAMP)
	$(PY) setup.py --quiet build_proto

proto: $(PROTO_OUT)

# pip byte-compiles what it installs into site-packages, but an editable install leaves the
# project's own modules to whichever process imports them first: compile them here, as a wheel
# install would, or the first test run's dozens of hosts and workers race to do it.
install: $(STAMP) $(PROTO_OUT)
	@$(PY) -m compileall -q -j 0 devhost telemetry deploy dashboards function_app.py workflow.py \
	  >/dev/null

# Microsoft's Kusto parser, which checks the workbook queries, from the lockfile.
$(NODE_TOOLS): dashboards/tools/package-lock.json
	cd dashboards/tools && npm ci --no-audit --no-fund --loglevel=error

# The HTML run view is checked in a real headless browser: Debian's chromium, never a browser
# download. Without root it stops and says how to get it: the check is part of the tests.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "no chromium: 'sudo apt-get install -y chromium' (the HTML view check needs it)"; \
	  exit 1; fi; }

# The settings `func start` would read; copied once from the example, never overwritten.
local.settings.json: | local.settings.json.example
	cp local.settings.json.example $@

# The zip a deployment uploads: the app's files minus .funcignore, plus requirements.txt
# installed for Azure's Linux x86_64 / CPython 3.13 under .python_packages/lib/site-packages
# (no .pyc, no stray top-level entries). The same files unpacked in dist/function-app/ are
# what `azd deploy` zips and uploads (azure.yaml's prepackage hook runs `make package`).
PACKAGE := dist/function-app.zip
PACKAGE_DIR := dist/function-app
$(PACKAGE): $(STAMP) requirements.txt host.json .funcignore function_app.py workflow.py \
  $(wildcard telemetry/*.py) $(wildcard deploy/*.py)
	$(PY) -m deploy.package --output $@

package: $(PACKAGE)
	@test -f $(PACKAGE_DIR)/host.json || $(PY) -m deploy.package --output $(PACKAGE)

# The wheels a user's `pip install` of this project needs (the lock's versions), so the test
# that installs it into a fresh venv runs offline; and those its isolated build needs:
# [build-system].requires as pyproject.toml says them, what they pull in (grpcio, protobuf)
# at the lock's versions. setuptools keeps the build-system's range (the lock's is grpcio-tools'
# runtime one).
WHEELHOUSE := .wheelhouse/.complete
$(WHEELHOUSE): pyproject.toml requirements.lock
	$(PY) -m pip download --quiet -d .wheelhouse -c requirements.lock --only-binary=:all: \
	  . pytest --group app
	$(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
	  > .wheelhouse/build-requirements.txt
	grep -v '^setuptools==' requirements.lock > .wheelhouse/build-constraints.txt
	$(PY) -m pip download --quiet -d .wheelhouse --only-binary=:all: \
	  -c .wheelhouse/build-constraints.txt -r .wheelhouse/build-requirements.txt
	touch $@

wheelhouse: install $(WHEELHOUSE)

demo: install local.settings.json
	$(PY) -m devhost call POST /api/start-sub-orchestration --tree

# The whole suite on three pytest-xdist workers: on two cores the tests wait on processes a
# good part of the time, and a third worker fills it (measured 143-150 s against 167 s with
# two; a fourth is slower again: 127 s against 122 s with three, 683 tests). --dist loadgroup keeps the tests that share a module- or session-scoped fixture (one
# devhost for a module, say) in one worker: they are grouped in tests/conftest.py; every
# other test goes wherever a worker is free. `make lint`
# runs first (ruff, mypy, the layering contract), so CI, which runs `make test`, checks them.
TEST_WORKERS ?= 3
test: install lint $(NODE_TOOLS) browser $(PACKAGE) $(WHEELHOUSE)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# The tests that start no process (no devhost, worker, CLI, browser or pytest session: those
# are marked `host`, see tests/conftest.py), in one process: seconds, for the edit-test loop.
test-fast: install $(PACKAGE)
	$(PY) -m pytest -q -m "not host"

# Each example is a user's project of its own (its own function_app module, which would clash
# with the recipe's in one mypy run), so each is checked on its own.
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy function_app.py workflow.py telemetry devhost deploy bench tests
	for example in examples/*/; do $(PY) -m mypy "$$example" || exit 1; done
	$(VENV)/bin/lint-imports

bench: install local.settings.json
	$(PY) -m pytest bench -q -p no:randomly --benchmark-disable-gc --benchmark-columns=median,rounds

bench-quick: install local.settings.json
	BENCH_QUICK=1 $(PY) -m pytest bench -q --benchmark-columns=median,rounds

soak: install local.settings.json
	$(PY) -m bench.soak

serve: install local.settings.json
	$(PY) -m devhost start

# The portal's pictures in docs/portal.md: the portal's Chromium test, keeping its screenshots.
portal-pictures: install browser
	DEVHOST_PORTAL_SCREENSHOTS=$(CURDIR)/docs/images $(PY) -m pytest -q \
	  tests/devhost/insights/test_portal.py -k chromium

# Regenerates requirements.lock (everything, for make) and requirements.txt (pyproject's `app`
# group: the app's own dependencies, what Azure's build installs), the second constrained by
# the first so the two never disagree. Pins that still fit pyproject.toml are kept; `make lock UPGRADE=1` moves
# everything to the newest versions allowed. Run make test after it.
lock: install
	$(PY) -m uv pip compile pyproject.toml --all-extras --group pyproject.toml:app --universal \
	  --python-version 3.13 --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) -q \
	  -o requirements.lock
	$(PY) -m uv pip compile --group pyproject.toml:app --universal --python-version 3.13 \
	  -c requirements.lock --custom-compile-command "make lock" --no-annotate -q \
	  -o requirements.txt

clean:
	rm -rf $(VENV) .devhost dist .wheelhouse dashboards/tools/node_modules devhost/rpc/*_pb2*.py \
  devhost/rpc/*_pb2*.pyi
