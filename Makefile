# The README's commands. Each sets up what it needs: a .venv with the package installed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench lint clean

$(BIN)/linkcrawl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $@

demo: $(BIN)/linkcrawl
	$(BIN)/linkcrawl demo

test: $(BIN)/linkcrawl
	$(BIN)/python -m pytest

bench: $(BIN)/linkcrawl
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(BIN)/linkcrawl
	$(BIN)/ruff check linkcrawl tests bench
	$(BIN)/ruff format --check linkcrawl tests bench

clean:
	rm -rf $(VENV) data/crawls data/edges data/pages data/authority data/.staging data/.jobs
