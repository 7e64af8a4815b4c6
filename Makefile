# The README's two commands: `make demo` and `make test`. Both set up what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint demo bench bench-scale clean kafka

# Byte-compile the project's own modules: the editable install leaves none, and a machine that sets
# PYTHONDONTWRITEBYTECODE never writes them, so every run would compile ~40 ms of imports again (replay's
# start-up before the first send: 0.16-0.19 s without, 0.13-0.14 s with). Only stale files are redone.
setup: $(STAMP)
	@$(BIN)/python -m compileall -q engine tui elasticc_stream >/dev/null

# Re-install only when the project's dependencies change; otherwise setup is a no-op.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Apache Kafka's jars (kafka/pom.xml) for `broker start --kafka`, fetched once from Maven Central.
KAFKA_LIBS := .cache/kafka/libs
KAFKA_STAMP := .cache/kafka/.fetched

kafka: $(KAFKA_STAMP)

$(KAFKA_STAMP): kafka/pom.xml
	@command -v mvn >/dev/null || { echo "make kafka: Maven is needed to fetch Apache Kafka (apt-get install maven)"; exit 1; }
	@rm -rf $(KAFKA_LIBS) && mkdir -p .cache/kafka
	@mvn -q -B -f kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory=$(abspath $(KAFKA_LIBS)) >.cache/kafka-fetch.log 2>&1 || \
		{ echo "make kafka: cannot fetch Apache Kafka from Maven Central (see .cache/kafka-fetch.log)"; exit 1; }
	@touch $@

lint: setup
	$(BIN)/ruff check .

test: setup lint kafka
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/elasticc-stream demo

# The prepare benchmark's baseline is the reference note's `pigz -dc | tar xf`; without pigz it uses gzip -dc.
bench: setup kafka
	@command -v pigz >/dev/null || apt-get install -y -qq pigz >/dev/null 2>&1 || \
		echo "pigz not installed: the prepare baseline uses gzip -dc"
	$(BIN)/python -m benchmarks

# 100 k and 1 M-alert batches (cached in .bench-cache/); SIZES=10000,100000 for a quicker run.
bench-scale: setup kafka
	@command -v pigz >/dev/null || apt-get install -y -qq pigz >/dev/null 2>&1 || \
		echo "pigz not installed: the prepare baseline uses gzip -dc"
	$(BIN)/python -m benchmarks --scale $(if $(SIZES),--scale-sizes $(SIZES))

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .cache
