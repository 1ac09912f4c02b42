# darkvoyage: every target bootstraps uv and the locked environment first, so a fresh
# machine with Python 3.11 and make needs nothing else.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --locked
# Debian packages the tests need beyond the Python environment: Chromium renders the HTML
# report in a real browser, Java 17 runs the Spark engine's tests, PostgreSQL serves the
# store's tests (they start their own server in a temporary folder, on a free port).
SYSTEM_PACKAGES := chromium:chromium java:openjdk-17-jre-headless pg_ctlcluster:postgresql

.PHONY: setup system-deps demo test bench clean

setup:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --locked --inexact --quiet

# Installs what is missing with apt-get (as root, else through sudo); says what to install
# by hand when it cannot.
system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing (Debian packages the tests need)"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	  { $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || \
	  { echo "make: could not install$$missing; install them and run make test again" >&2; exit 2; }; \
	fi

demo: setup
	$(RUN) darkvoyage demo

# The tests include the Spark engine's: they need the optional `spark` extra (and Java 17).
# Every sync is --inexact: no target removes what another installed (`make test` then `make
# demo` keeps the Spark engine). pytest-xdist runs one worker per core, a unit of tests per
# worker at a time: a test file, or the Spark files together (tests/conftest.py groups them and
# hands the long units out first), so module fixtures and a Spark session are built once.
test: setup system-deps
	@$(UV) sync --locked --inexact --quiet --extra spark
	$(RUN) ruff check .
	$(RUN) --extra spark pytest -q -n auto --dist loadfile --no-loadscope-reorder

bench: setup system-deps
	@$(UV) sync --locked --inexact --quiet --extra spark
	$(RUN) --extra spark python benchmarks/run_all.py

clean:
	rm -rf .venv .pytest_cache build dist
