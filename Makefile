# snnrl — set-up and entry points. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.snnrl-installed
PIP    := $(BIN)/python -m pip --quiet --disable-pip-version-check

.PHONY: demo test bench clean-venv

# CPU torch is installed first, alone, so no package can pull the multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snnrl demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
