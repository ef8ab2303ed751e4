# posdiag: `make demo` runs the whole flow on a simulated terminal,
# `make test` runs every test. Both install what they need first.
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
MPRUNTIME := host_tools/mpruntime
NPM_STAMP := $(MPRUNTIME)/node_modules/.package-lock.json
FAULT     ?= paper-out
LANG_DEMO ?= en
RUNTIME   ?= cpython

.PHONY: install browser demo demo-hub test lint wheel-check bench deploy package-json clean

install: $(STAMP) $(NPM_STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(NPM_STAMP): $(MPRUNTIME)/package.json $(MPRUNTIME)/package-lock.json
	npm ci --prefix $(MPRUNTIME) --no-audit --no-fund --loglevel=error

demo: install
	$(PY) -m host_tools.demo --fault $(FAULT) --lang $(LANG_DEMO) --runtime $(RUNTIME)

# The terminal online (host_tools/demo_hub.py): a hub on SQLite in a
# temporary folder, a terminal provisioned on it, `posdiag sim --hub` failing a
# print; the QR link answers with the receipt page, the diagnosis is on the hub.
demo-hub: install
	$(PY) -m host_tools.demo_hub --fault $(FAULT) --lang $(LANG_DEMO) --runtime $(RUNTIME)

# Debian's Chromium (and a CJK font) for the tests that open e-receipt pages
# the way a customer's phone would.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	  else echo "the browser tests need Chromium: sudo apt-get install chromium fonts-wqy-microhei"; exit 1; fi; }

test: install browser
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check host_tools tests
	$(PY) -m mypy
	bash .ci/lint-firmware

# The wheel as a technician installs it, in a clean venv (.ci/wheel-check).
wheel-check: install
	bash .ci/wheel-check

bench: install
	$(PY) -m tests.bench

# Copy the firmware to a MicroPython board: make deploy PORT=/dev/ttyUSB0
# (a posdiag_config.py with the board's pins and host goes beside main.py).
deploy: install
	@test -n "$(PORT)" || { echo "make deploy PORT=/dev/ttyUSB0"; exit 2; }
	$(VENV)/bin/mpremote connect $(PORT) fs mkdir :/lib || true
	$(VENV)/bin/mpremote connect $(PORT) fs cp -r firmware/posdiag :/lib/
	$(VENV)/bin/mpremote connect $(PORT) fs cp firmware/main.py :main.py

# mip's package.json files: firmware/package.json (every module) and one per
# package beside its manifest (firmware/posdiag-*/): run after adding a module.
package-json:
	$(PY) -c 'from tests.bench import write_package_json; write_package_json()'

clean:
	rm -rf $(VENV) $(MPRUNTIME)/node_modules build
