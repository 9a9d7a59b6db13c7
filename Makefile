# huifang: two commands.
#   make demo   run the main job on the embedded default (SQLite, nothing configured)
#   make test   install what the suite needs and run all of it (lint, types, tests)
#   make bench  run the benchmarks (not part of make test)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest-xdist workers for make test (0: one process). One process by default: with two,
# the speech tests starve each other of CPU (answers rejected, once one misheard) and a
# PocketSphinx test failed in a different test order; see the README.
TEST_WORKERS ?= 0

.PHONY: demo test bench lint typecheck system-deps venv clean

$(STAMP): pyproject.toml
	scripts/ensure-venv "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install --quiet --disable-pip-version-check --editable '.[test]'
	touch $@

venv: $(STAMP)

# The Debian packages first: without root, a missing one (python3-venv included) stops the
# demo at once with the exact apt-get line, before minutes of building the environment.
demo:
	PYTHON="$(PYTHON)" VENV="$(VENV)" scripts/install-system-deps demo
	$(MAKE) --no-print-directory venv
	$(BIN)/huifang demo

system-deps:
	PYTHON="$(PYTHON)" VENV="$(VENV)" scripts/install-system-deps

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

test: system-deps venv lint typecheck
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=30; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi; \
	exit $$status

bench: system-deps venv
	$(BIN)/python -m bench
	$(BIN)/python -m bench.report_bench
	$(BIN)/python -m bench.prompts_bench
	$(BIN)/python -m bench.asr_bench
	$(BIN)/python -m bench.channel_bench
	$(BIN)/python -m bench.whisper_bench
	$(BIN)/python -m bench.confirm_bench
	$(BIN)/python -m bench.calls_bench
	$(BIN)/python -m bench.hostile_media_bench
	$(BIN)/python -m bench.hostile_sip_bench
	$(BIN)/python -m bench.campaign_bench
	HUIFANG_BENCH_PROCESSES=0 HUIFANG_BENCH_OUT=campaign_threads.json $(BIN)/python -m bench.campaign_bench
	$(BIN)/python -m bench.two_node_bench
	HUIFANG_BENCH_TURN_SPLIT=tune $(BIN)/python -m bench.turn_taking_bench
	$(BIN)/python -m bench.turn_taking_bench
	$(BIN)/python -m bench.console_bench
	$(BIN)/python -m bench.console_search_bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
