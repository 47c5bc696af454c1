# Two commands set everything up on a fresh Debian machine with only Python:
#   make run   – create .venv, install, run the appliance with embedded defaults
#   make test  – create .venv, install, run the whole test suite
# Another interpreter gets a virtualenv of its own beside .venv, named after it:
#   make test PYTHON=python3.13   – .venv-python3.13 (Raspberry Pi OS on Debian 13 runs 3.13)
PYTHON ?= python3
VENV   ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(notdir $(PYTHON)))
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 0.0.0.0
PORT   ?= 8080

.PHONY: run test quality system-deps bench doctor check-aarch64 test-image clean

# Debian packages the tests and the appliance use (installed only when missing; needs root).
system-deps:
	@bash scripts/install-system-deps.sh

# PYTHON as named, or pyenv's installed one of that name when its shim refuses it (find-python.sh).
# The runtime dependencies at the versions the board gets (scripts/requirements-pinned.txt as
# constraints, as install.sh does): the tests check what ships, not whatever PyPI has today.
# The tools that fit and judge the engine (scikit-learn, scipy, librosa) are pinned too
# (requirements-dev-pinned.txt): `make quality` refits them per fold, so their versions are part
# of what its figures measure.
PINS := scripts/requirements-pinned.txt
DEV_PINS := scripts/requirements-dev-pinned.txt
$(STAMP): setup.py $(PINS) $(DEV_PINS)
	python=$$(bash scripts/find-python.sh $(PYTHON)) && $$python -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(PINS) -c $(DEV_PINS) -e '.[dev]'
	touch $(STAMP)

run: system-deps $(STAMP)
	$(BIN)/foley doctor --host $(HOST) --port $(PORT)
	$(BIN)/foley serve --capture --host $(HOST) --port $(PORT)

test: system-deps $(STAMP)
	$(BIN)/python -m pytest -q -rfEs tests

# The cross-validated evaluation on the shared clips (folds by recording, baselines in the same
# run) against the figures recorded in docs/quality-figures.json (scripts/quality.py).
EVAL_DIRS ?= ../shared/eval/clips ../shared/eval/corpus
quality: $(STAMP)
	$(BIN)/foley eval $(EVAL_DIRS) --folds 5 --json --quiet > quality-run.json
	$(BIN)/python scripts/quality.py quality-run.json

doctor: $(STAMP)
	$(BIN)/foley doctor

bench: $(STAMP)
	$(BIN)/foley bench models

check-aarch64:
	bash scripts/check-aarch64.sh

# Builds the SD-card image from a Debian arm64 stand-in for Raspberry Pi OS (trixie, Python 3.13;
# SUITE=bookworm for 3.11) and boots it in qemu-system-aarch64 (root; long: see README). Not
# part of `make test`.
test-image: $(STAMP)
	PYTHON=$(abspath $(BIN)/python) bash scripts/test-image.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
