# The two commands a newcomer needs (see README):
#   make analyze   set up .venv and run `hessrmt analyze` on its built-in default
#   make test      set up .venv (and a headless Chromium for the report test) and run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The suite runs in two worker processes (pytest-xdist; one BLAS/torch thread each, see
# tests/conftest.py), grouped by module so module fixtures are built once: about half the
# wall time of one process on the 2-core CI machine. PYTEST_ARGS= runs it in one process.
PYTEST_ARGS ?= -n 2 --dist loadscope

.PHONY: setup analyze test test-fast lint browser bench bench-quick clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

analyze: setup
	$(BIN)/hessrmt analyze $(ARGS)

# Headless Chromium for the report test (Debian's package). Skipped quietly where apt is absent;
# the browser test then fails in CI (where CI=true) and skips elsewhere, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will not run"; \
	  else echo "note: chromium not installed and apt-get not usable; the browser test will not run"; fi; }

test: setup browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python bench/run.py $(ARGS)

bench-quick: setup
	$(BIN)/python bench/run.py --quick $(ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
