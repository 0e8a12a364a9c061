# The README's commands. Each sets up what it needs: a .venv with the package installed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench lint clean

$(BIN)/linkcrawl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench,distributed,duckdb,spark]"
	touch $@

demo: $(BIN)/linkcrawl
	$(BIN)/linkcrawl demo

test: $(BIN)/linkcrawl
	$(BIN)/python -m pytest

# Each benchmark prints its figures and a ratio against a baseline run in the same script.
bench: $(BIN)/linkcrawl
	$(BIN)/python bench/crawl_throughput.py
	$(BIN)/python bench/crawl_throughput.py --workers 2
	$(BIN)/python bench/extract_bench.py
	$(BIN)/python bench/write_bench.py
	test -d bench/results/web-1m/edges || $(BIN)/python bench/gen_web_graph.py
	$(BIN)/python bench/analyze_bench.py
	$(BIN)/python bench/resume_bench.py

lint: $(BIN)/linkcrawl
	$(BIN)/ruff check linkcrawl tests bench
	$(BIN)/ruff format --check linkcrawl tests bench

clean:
	rm -rf $(VENV) data/crawls data/edges data/pages data/authority data/.staging data/.jobs
