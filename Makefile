# Each target creates the virtualenv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/clarion_test
PG_BENCH_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/clarion_bench

.PHONY: serve test lint test-postgres schema bench bench-send bench-paced bench-progress bench-twilio bench-feedback clean

$(BIN)/clarion: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

serve: $(BIN)/clarion  ## Run the API + in-process worker on SQLite and an embedded Redis.
	$(BIN)/clarion serve

test: lint  ## Lint, type-check, schema drift and the whole test suite.
	$(BIN)/pytest

lint: $(BIN)/clarion
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy db graph jobs tests

test-postgres: $(BIN)/clarion  ## The suite again with the server on PostgreSQL (less what uses no database).
	psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS clarion_test" \
		-c "CREATE DATABASE clarion_test"
	CLARION_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -m "not database_independent"

schema: $(BIN)/clarion  ## Regenerate schema.graphql from the code.
	$(BIN)/clarion export-schema --output schema.graphql

bench: $(BIN)/clarion  ## importContacts of 100,000 and startCampaign on 100,000 contacts.
	$(BIN)/python -m tests.benchmarks.bench_foundation

bench-send: $(BIN)/clarion  ## A campaign of 20,000 then 100,000 through a worker vs raw SMTP; on SQLite, then on PostgreSQL.
	$(BIN)/python -m tests.benchmarks.bench_sending
	psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS clarion_bench" \
		-c "CREATE DATABASE clarion_bench"
	CLARION_TEST_DATABASE_URL=$(PG_BENCH_URL) $(BIN)/python -m tests.benchmarks.bench_sending

bench-paced: $(BIN)/clarion  ## Many campaigns at modest rates: the CPU a message paced vs unpaced, and each campaign's pace.
	$(BIN)/python -m tests.benchmarks.bench_paced

bench-progress: $(BIN)/clarion  ## A 20,000 campaign without, then with 1,000 progress subscribers.
	$(BIN)/python -m tests.benchmarks.bench_progress

bench-twilio: $(BIN)/clarion  ## WhatsApp: 20,000 leads through a worker vs the twilio client; memory at 100,000.
	$(BIN)/python -m tests.benchmarks.bench_twilio_send

bench-feedback: $(BIN)/clarion  ## WhatsApp: 20,000 leads at 400 msg/s with 3 status callbacks each and 10% replies vs callbacks off.
	$(BIN)/python -m tests.benchmarks.bench_twilio_feedback --rate 400

clean:
	rm -rf $(VENV) .clarion .mypy_cache .ruff_cache .pytest_cache
