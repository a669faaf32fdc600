# tornado-paste: the two commands are `make run` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PYTHONWARNINGS := ignore:pkg_resources is deprecated:UserWarning

# Debian packages the service and its tests need (one per line keeps merges easy).
DEBIAN_PACKAGES := libmagic1
DEBIAN_PACKAGES += curl
DEBIAN_PACKAGES += chromium

.PHONY: setup setup-python setup-system run test lint bench-upload clean

setup: setup-python

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup-python: $(VENV)/.installed

# System packages for the real-parts tests (nginx, Chromium, StatsD, Graphite...).
setup-system:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: setup-python
	$(PY) run.py $(ARGS)

test: setup-python setup-system
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup-python
	$(PY) -m ruff check .

bench-upload: setup-python
	$(PY) bench/upload_stream.py

clean:
	rm -rf $(VENV) data .pytest_cache
