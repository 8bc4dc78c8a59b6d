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
# spike-driven kernels (numba's, and the C one with the system's compiler into $SNNRL_HOME/native), the fused LIF
# kernels and the Soft-DTW kernels into their on-disk caches, so no user waits for them at first use.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[test]"
	$(BIN)/python -m snnrl.agents.spike_engine
	$(BIN)/python -m snnrl.fused_lif
	$(BIN)/python -m snnrl.continual.soft_dtw
	touch $(STAMP)

# Fashion-MNIST ships as Debian's package dataset-fashion-mnist (no download at run time); libosmesa6 is the
# software OpenGL that MuJoCo's offscreen rendering uses for pixel observations (MUJOCO_GL=osmesa); gcc builds the
# spike engine's C kernel (without it the numba kernel runs, slower at batch >= 8).
DEBIAN_PACKAGES := $(if $(wildcard $(FASHION_MNIST)),,dataset-fashion-mnist) \
                   $(if $(wildcard /usr/lib/*/libOSMesa.so*),,libosmesa6) \
                   $(if $(shell command -v cc 2>/dev/null),,gcc)
data:
	@if [ -n "$(strip $(DEBIAN_PACKAGES))" ]; then \
	  if [ -n "$(APT_GET)" ]; then ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEBIAN_PACKAGES)) \
	    || echo "warning: could not install $(strip $(DEBIAN_PACKAGES)); their tests are skipped"; \
	  else echo "note: install Debian's $(strip $(DEBIAN_PACKAGES)) (Split-FashionMNIST, pixel observations); their tests are skipped"; fi; \
	fi

demo: $(STAMP) data
	$(BIN)/snnrl demo

test: $(STAMP) data
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
