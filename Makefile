# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
CLIENTS := tests/.clients
STAMP := $(VENV)/.installed
CLIENTS_STAMP := $(CLIENTS)/.installed

.PHONY: run test install clients check bench bench-auth bench-stores bench-imports bench-scale bench-storm bench-replication bench-cache bench-overhead bench-audit clean

run: $(STAMP)
	$(VENV)/bin/glint serve --data-dir data

test: $(STAMP) $(CLIENTS_STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider --durations=25

check: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/python bench/run.py

bench-auth: $(STAMP)
	$(VENV)/bin/python bench/auth_overhead.py

bench-stores: $(STAMP)
	$(VENV)/bin/python bench/stores.py

bench-imports: $(STAMP)
	$(VENV)/bin/python bench/imports.py

bench-scale: $(STAMP)
	$(VENV)/bin/python bench/scale.py

bench-storm: $(STAMP)
	$(VENV)/bin/python bench/storm.py

bench-replication: $(STAMP)
	$(VENV)/bin/python bench/replication.py

bench-cache: $(STAMP)
	$(VENV)/bin/python bench/cache.py

bench-overhead: $(STAMP)
	$(VENV)/bin/python bench/overhead.py

bench-audit: $(STAMP)
	$(VENV)/bin/python bench/audit.py

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

clients: $(CLIENTS_STAMP)

$(CLIENTS_STAMP): tests/e2e/clients-requirements.txt
	$(PYTHON) -m venv $(CLIENTS)
	$(CLIENTS)/bin/pip install -q --upgrade pip
	$(CLIENTS)/bin/pip install -q -r tests/e2e/clients-requirements.txt
	touch $@

clean:
	rm -rf $(VENV) $(CLIENTS) data bench/.work
