# The README's two commands: `make demo` and `make test`. Both set up what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint demo bench bench-scale clean

setup: $(STAMP)

# Re-install only when the project's dependencies change; otherwise setup is a no-op.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check .

test: setup lint
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/elasticc-stream demo

# The prepare benchmark's baseline is the reference note's `pigz -dc | tar xf`; without pigz it uses gzip -dc.
bench: setup
	@command -v pigz >/dev/null || apt-get install -y -qq pigz >/dev/null 2>&1 || \
		echo "pigz not installed: the prepare baseline uses gzip -dc"
	$(BIN)/python -m benchmarks

# 100 k and 1 M-alert batches (cached in .bench-cache/); SIZES=10000,100000 for a quicker run.
bench-scale: setup
	@command -v pigz >/dev/null || apt-get install -y -qq pigz >/dev/null 2>&1 || \
		echo "pigz not installed: the prepare baseline uses gzip -dc"
	$(BIN)/python -m benchmarks --scale $(if $(SIZES),--scale-sizes $(SIZES))

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
