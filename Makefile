# newsbot — `make run` and `make test` work on a fresh clone: they create .venv and install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EMULATOR := tests/telegram_emulator
EMULATOR_STAMP := $(EMULATOR)/node_modules/.installed-stamp
SOURCES := $(wildcard rag bot tests benchmarks)

.PHONY: install run test lint format typecheck pytest eval bench emulator clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: pip takes the CPU wheel on this disk; anything else pulls a CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,llm]'
	touch $(STAMP)

install: $(STAMP)

# The Telegram Bot API emulator used by the end-to-end tests (npm package telegram-test-api).
$(EMULATOR_STAMP): $(EMULATOR)/package-lock.json
	cd $(EMULATOR) && npm ci --no-audit --no-fund --loglevel=error
	touch $(EMULATOR_STAMP)

emulator: $(EMULATOR_STAMP)

# Index the seeds (unchanged articles are skipped), then the Telegram bot if a token is set, else the REPL.
run: install
	$(BIN)/newsbot ingest --quiet seeds
	@if [ -n "$$TELEGRAM_BOT_TOKEN" ]; then exec $(BIN)/newsbot telegram; else exec $(BIN)/newsbot repl; fi

format: install
	$(BIN)/ruff format $(SOURCES)

lint: install
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/ruff check $(SOURCES)

typecheck: install
	$(BIN)/mypy rag bot

pytest: install emulator
	$(BIN)/python -m pytest -m "not llm" $(PYTEST_ARGS)

test: lint typecheck pytest

eval: install
	$(BIN)/newsbot eval --questions tests/data/eval_questions.jsonl --corpus seeds --data-dir data/eval-seed

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(EMULATOR)/node_modules .pytest_cache .mypy_cache .ruff_cache
