# The two commands of the README:
#   make demo   corpus -> features -> training -> decoding -> transcription on the built-in corpus
#   make test   the test suite (fast subset; `make test-slow` adds the slow cases)
PY := .venv/bin/python
DATA ?= small

.PHONY: demo test test-slow setup
setup:
	@bash tools/setup.sh

demo: setup
	$(PY) recipes/demo.py data=$(DATA)

test:
	@SETUP_TEST=1 bash tools/setup.sh
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m "slow and not gpu"
