# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint unit bench sysdeps clean gpu-wheels gpu-check

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch==2.13.0 goes first: it is the CPU wheel on this disk. A looser spec would pull a multi-GB CUDA build;
# the package's own range (torch>=2.4,<2.15) is then already satisfied.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,tensorboard,ifeval]'
	touch $(STAMP)

# bubblewrap sandboxes generated code; chromium renders the report in its test. Both are Debian packages.
sysdeps:
	@if ! command -v bwrap >/dev/null || ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap chromium >/dev/null) \
	      || echo "warning: could not install bubblewrap/chromium; their tests will be skipped"; \
	  else echo "note: run as root (or install bubblewrap and chromium) to enable the sandbox and browser tests"; fi; \
	fi

demo: $(STAMP)
	$(BIN)/sftscope lab --out runs/lab

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

test: $(STAMP) sysdeps lint
	$(BIN)/pytest -q -p no:cacheprovider

# gpu_check.py needs CUDA (make gpu-check); qwen3_shapes.py is a module the others import.
bench: $(STAMP)
	for f in $(filter-out benchmarks/gpu_check.py benchmarks/qwen3_shapes.py,$(wildcard benchmarks/*.py)); do \
	  $(BIN)/python $$f || exit 1; done

# The GPU check (benchmarks/gpu_check.py). A bare GPU image has torch, transformers and accelerate but not
# TRL or datasets, and no network: `make gpu-wheels` (here, with network) puts their pure-Python wheels in
# .whl/, which the GPU machine receives with the work tree (git ignores it: carry it); `make gpu-check` (there)
# installs them into $(GPU_SITE), never into the image, and prints every figure as soon as it has it.
# `make gpu-check GPU_CHECK_ARGS=--dry-run` lists what would run, anywhere.
GPU_WHEELS     := trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 liger-kernel==0.8.5
GPU_SITE       := /tmp/sftscope-gpu-site
GPU_CHECK_ARGS ?=

gpu-wheels:
	mkdir -p .whl
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux2014_x86_64 --platform any -d .whl $(GPU_WHEELS)

gpu-check:
	@if ls .whl/*.whl >/dev/null 2>&1; then \
	  $(PY) -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $(GPU_SITE) \
	    .whl/*.whl || echo "note: the wheels in .whl/ did not install (they are for Python 3.12): TRL may be skipped"; \
	else echo "note: no wheels in .whl/ (make gpu-wheels): TRL's baseline runs only if the image has TRL"; fi
	PYTHONPATH=$(GPU_SITE):$(CURDIR)/src PYTHONUNBUFFERED=1 $(PY) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) runs build *.egg-info
