# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint unit bench sysdeps clean

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

bench: $(STAMP)
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs build *.egg-info
