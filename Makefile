# Carebase: `make run` starts everything; `make test` runs every test. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENDOR := src/carebase/web/static/vendor

.PHONY: run test lint bench deps browser clean-var

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(VENDOR)/.installed: node_modules/.installed
	mkdir -p $(VENDOR)/swagger-ui
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/chart.umd.min.js
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/swagger-ui/
	@touch $@

deps: $(BIN)/.installed $(VENDOR)/.installed

# Debian's Chromium for the browser tests: installed when we are root (CI), else those tests skip.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "could not install chromium: browser tests will be skipped"; \
	else echo "chromium is not installed and we are not root: browser tests will be skipped"; fi

run: deps
	$(BIN)/carebase serve

test: deps browser
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/python -m pytest

lint: deps
	$(BIN)/ruff check src tests bench migrations

bench: deps
	$(BIN)/python -m bench.run

clean-var:
	rm -rf var
