# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test install clean bench bench-quick bench-serve browser docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-installs whenever pyproject.toml changes.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/visionflow demo

# Two test processes (pytest-xdist), each taking whole files so that a file's shared fixtures
# train once; JOBS=1 runs them in one process.
JOBS ?= 2
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile

# The web page test drives Debian's Chromium; installed where this machine allows (root + apt),
# otherwise that one test is skipped and says why.
browser:
	@command -v chromedriver >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { echo "installing chromium and chromium-driver for the browser test ..."; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }; }; } || \
	  echo "Chromium could not be installed: the browser test will be skipped."

# The documentation (README.md's links, docs/) as a static site in site/, built offline.
docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	$(BIN)/mkdocs build --strict

# Benchmarks print figures and write bench/results/; they are not tests.
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

bench-serve: $(STAMP)
	$(BIN)/python bench/serve_load.py

clean:
	rm -rf $(VENV) runs demo build dist site src/*.egg-info
