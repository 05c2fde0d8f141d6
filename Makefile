# zkseq — the commands people use. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
VECTORS ?= ../shared/spec/vectors
STAMP := $(VENV)/.installed

.PHONY: help install proto contracts run test unit integration lint typecheck conformance bench clean

help:
	@echo "make install      virtual environment, Python packages, C extension, generated protos"
	@echo "make run          the whole devnet on this machine (ARGS=--fresh for a new chain)"
	@echo "make test         lint + type check + every test (needs Redis/PostgreSQL; .ci/run starts them)"
	@echo "make bench        benchmarks; each prints its figures and its baseline"
	@echo "make conformance  zkseq conformance $(VECTORS)"
	@echo "make proto        regenerate Python code from protos/"
	@echo "make contracts    compile contracts/src with solc-js into contracts/artifacts (committed)"
	@echo "make lint         ruff + mypy --strict"

$(STAMP): pyproject.toml setup.py zkevm/_poseidon.c
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) proto

proto: $(STAMP)
	@protos=$$(find protos -name '*.proto' 2>/dev/null); \
	if [ -n "$$protos" ]; then \
	  $(BIN)/python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. --pyi_out=. $$protos; \
	fi

contracts:
	cd contracts && npm ci --no-audit --no-fund && node compile.js

# the whole rollup on this machine; ARGS="--fresh" starts a new chain, ARGS="--port-base 20000" moves the ports
run: install
	$(BIN)/zkseq devnet up $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: lint

test: lint
	ZKSEQ_VECTORS=$(VECTORS) $(BIN)/pytest -q

unit: install
	ZKSEQ_VECTORS=$(VECTORS) $(BIN)/pytest -q tests/unit

conformance: install
	$(BIN)/zkseq conformance $(VECTORS)

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build *.egg-info zkevm/*.so .mypy_cache .ruff_cache .pytest_cache
