# Fixed verbs: setup, run, test, lint, schema, bench.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps test-system-deps run test test-sqlite test-postgres lint schema bench bench-batch bench-instructions bench-catalog demo clean

## system-deps: Debian packages `make run` needs (python3-venv, npm), installed when missing
system-deps:
	.ci/system-deps run

## test-system-deps: and what the tests need (PostgreSQL running, openssl, SoftHSM2, chromium)
test-system-deps:
	.ci/system-deps test

$(STAMP): pyproject.toml console/package-lock.json | system-deps
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	npm ci --prefix console --no-audit --no-fund --loglevel=error
	touch $(STAMP)

setup: $(STAMP)

## run: set up, migrate the embedded SQLite database under ./data, seed the demo and serve on :8000
run: setup
	$(BIN)/kms migrate
	$(BIN)/kms demo
	$(BIN)/kms serve --host 127.0.0.1 --port 8000

## test: the whole suite on SQLite and on PostgreSQL (KMS_TEST_PG_URL, default the local server), plus lint
test: test-system-deps setup lint test-sqlite test-postgres

test-sqlite: setup
	KMS_TEST_DB=sqlite $(BIN)/pytest -q

test-postgres: setup
	KMS_TEST_DB=postgres $(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

## schema: regenerate the committed schema.graphql from the code
schema: setup
	$(BIN)/python -c "from schema import build_schema; from settings import load; \
	open('schema.graphql', 'w').write(build_schema(load()).as_str() + '\n')"
	$(BIN)/python ../shared/tools/check_contract.py schema.graphql || true

## bench: import, claim and release keys through a real server on PostgreSQL and print the figures (bench/README.md)
bench: setup
	$(BIN)/python bench/keys.py

## bench-batch: where a batch of 100,000 spends its time in PostgreSQL (bench/README.md)
bench-batch: setup
	$(BIN)/python bench/batch_anatomy.py

## bench-instructions: instructions per catalog page, GraphQL and the plain endpoint, under callgrind (bench/README.md)
bench-instructions: setup
	$(BIN)/python bench/page_instructions.py

## bench-catalog: the catalog at 1,000,000 devices, facets, a batch of 100,000 and a claim (bench/README.md)
bench-catalog: setup
	$(BIN)/python bench/catalog.py

clean:
	rm -rf $(VENV) data console/node_modules
