# The README's commands. Each sets up what it needs in .venv: `make demo` the package with its
# base dependencies only, `make test` (and bench, lint) the test extras on top. A stamp file
# per set says what is installed, so `make demo` after `make test` reuses the venv, and
# `make test` after `make demo` adds only the extras; editing pyproject.toml reinstalls.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DIST ?= dist
# Everything the tests and benchmarks import: the test servers, Redis, DuckDB, Spark, igraph,
# scrapy-playwright.
DEV_EXTRAS := test,bench,distributed,duckdb,spark,render

.PHONY: demo test bench lint dist provision clean

$(VENV)/.installed-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-base
	$(BIN)/python -m pip install --quiet -e ".[$(DEV_EXTRAS)]"
	touch $@

demo: $(VENV)/.installed-base
	$(BIN)/linkcrawl demo

# redis-server, chromium-headless-shell and chromium, which some tests run: installed with
# apt-get when root, else one line saying what to install (.ci/provision; .ci/run calls it).
provision:
	.ci/provision

test: provision $(VENV)/.installed-dev
	$(BIN)/python -m pytest

# Each benchmark prints its figures and a ratio against a baseline run in the same script.
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/crawl_throughput.py
	$(BIN)/python bench/crawl_throughput.py --workers 2
	$(BIN)/python bench/extract_bench.py
	$(BIN)/python bench/write_bench.py
	test -d bench/results/web-1m/edges || $(BIN)/python bench/gen_web_graph.py
	$(BIN)/python bench/analyze_bench.py
	$(BIN)/python bench/commands_bench.py
	$(BIN)/python bench/resume_bench.py
	$(BIN)/python bench/warc_bench.py
	$(BIN)/python bench/site_bench.py
	$(BIN)/python bench/incremental_bench.py
	$(BIN)/python bench/render_bench.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check linkcrawl tests bench
	$(BIN)/ruff format --check linkcrawl tests bench
	$(BIN)/mypy

# The wheel to install on a server: `pip install dist/linkcrawl-*.whl` (docs/server.md).
# pip builds it in an isolated environment of its own, so no venv is needed here; it builds
# a wheel only (an sdist would need the `build` package).
dist:
	rm -rf $(DIST)/linkcrawl-*.whl build
	$(PYTHON) -m pip wheel --quiet --no-deps --wheel-dir $(DIST) .
	@ls $(DIST)/linkcrawl-*.whl

clean:
	rm -rf $(VENV) $(DIST) build data/crawls data/edges data/pages data/authority data/.staging data/.jobs
