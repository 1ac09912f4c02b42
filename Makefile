# darkvoyage: every target bootstraps uv and the locked environment first, so a fresh
# machine with Python 3.11 and make needs nothing else.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --locked

.PHONY: setup demo test bench clean

setup:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --locked --quiet

demo: setup
	$(RUN) darkvoyage demo

# The tests include the Spark engine's: they need the optional `spark` extra (and Java 17).
test: setup
	@$(UV) sync --locked --quiet --extra spark
	$(RUN) --extra spark pytest -q

bench: setup
	@$(UV) sync --locked --quiet --extra spark
	$(RUN) --extra spark python benchmarks/run_all.py

clean:
	rm -rf .venv .pytest_cache build dist
