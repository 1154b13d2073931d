# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint serve clean bench bench-quick soak

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[devhost,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m devhost call POST /api/start-sub-orchestration --tree

test: install
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
	rm -rf $(VENV) .devhost
