# The README's two commands: `make run` (the main job against the embedded mock) and
# `make test` (stagecheck's own tests, lint and type checks). Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

CHROMIUM ?= /usr/bin/chromium

.PHONY: setup lock chromium run test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,examples]'
	touch $@

# constraints.txt: the newest versions pyproject.toml allows, resolved in a scratch venv.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev,examples]'
	{ sed -n '1,2p' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .lock-venv

# The browser tests drive Debian's Chromium (never a browser download of Playwright's):
# installed from the distribution's packages when missing and we are root, else say how.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        echo "installing Debian's chromium (the browser tests need it)"; \
	        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	    else \
	        echo "make test needs Chromium at $(CHROMIUM): run 'sudo apt-get install chromium' (or set CHROMIUM=...)"; \
	        exit 2; \
	    fi; \
	fi

run: setup
	$(BIN)/stagecheck run

test: setup chromium
	$(BIN)/python -m pytest -q -n auto
	$(MAKE) --no-print-directory lint

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache stagecheck-report
