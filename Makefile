# snnrl — set-up and entry points. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.snnrl-installed
PIP    := $(BIN)/python -m pip --quiet --disable-pip-version-check

FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
APT_GET := $(shell command -v apt-get 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench clean-venv data

# CPU torch is installed first, alone, so no package can pull the multi-GB CUDA build. The last steps compile the
# spike-driven kernel and the Soft-DTW kernels into numba's on-disk cache, so no user waits for them at first use.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[test]"
	$(BIN)/python -m snnrl.agents.spike_engine
	$(BIN)/python -m snnrl.continual.soft_dtw
	touch $(STAMP)

# Fashion-MNIST ships as Debian's package dataset-fashion-mnist (no download at run time).
data:
	@if [ ! -f $(FASHION_MNIST) ]; then \
	  if [ -n "$(APT_GET)" ]; then ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist) \
	    || echo "warning: could not install dataset-fashion-mnist; Split-FashionMNIST tests are skipped"; \
	  else echo "note: install Debian's dataset-fashion-mnist for Split-FashionMNIST (its tests are skipped)"; fi; \
	fi

demo: $(STAMP) data
	$(BIN)/snnrl demo

test: $(STAMP) data
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
