# Two commands: `make run` and `make test` set up .venv from pyproject.toml on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test serve serve-data bench docs clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

run: $(INSTALLED)  ## ingest raw/inbox, rebuild, publish a release into output/ if anything changed
	$(PY) -m flows run

test: $(INSTALLED)  ## the test suite
	$(PY) -m pytest

serve: $(INSTALLED)  ## schedule refreshes: a Prefect deployment with a cron schedule
	$(PY) -m flows serve

serve-data: $(INSTALLED)  ## serve output/ on http://127.0.0.1:8000 for a quick look
	$(PY) -m http.server --bind 127.0.0.1 --directory output 8000

bench: $(INSTALLED)  ## the benchmark (N=10,000 profiles; see bench/README.md)
	$(PY) bench/run.py --profiles 10000

docs: $(INSTALLED)  ## regenerate the data dictionary in README.md from schemas/
	$(PY) -m flows docs

clean:
	rm -rf $(VENV) .state
