# tornado-paste: the two commands are `make run` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PYTHONWARNINGS := ignore:pkg_resources is deprecated:UserWarning

# Debian packages the service itself needs (python-magic loads libmagic; ffmpeg and poppler-utils make
# posters, PDF thumbnails and cover art, see docs/previews.md).
RUNTIME_PACKAGES := libmagic1
RUNTIME_PACKAGES += ffmpeg
RUNTIME_PACKAGES += poppler-utils
# Debian packages the tests need on top (one per line keeps merges easy).
DEBIAN_PACKAGES := $(RUNTIME_PACKAGES)
DEBIAN_PACKAGES += curl
DEBIAN_PACKAGES += graphite-carbon
DEBIAN_PACKAGES += graphite-web
DEBIAN_PACKAGES += nodejs
DEBIAN_PACKAGES += e2fsprogs
DEBIAN_PACKAGES += nginx
DEBIAN_PACKAGES += wrk
DEBIAN_PACKAGES += docker-compose
DEBIAN_PACKAGES += chromium
# A real S3 server for the blob-store tests (tests/system/s3_server.py: one mon, a memstore OSD, RGW).
DEBIAN_PACKAGES += radosgw
DEBIAN_PACKAGES += ceph-mon
DEBIAN_PACKAGES += ceph-osd

.PHONY: setup setup-python setup-runtime setup-system tools-statsd tools-npm tools-axe vendor-swagger-ui run test lint bench-upload bench-resize bench-load bench-upload-load bench-download-load bench-tus bench-metrics compose-nginx-conf clean
.PHONY: bench-soak

setup: setup-runtime setup-python

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# The project itself, editable: `python -m tornado_paste...` and the benches resolve without path tricks.
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup-python: $(VENV)/.installed

# Installs only the Debian packages that are missing (apt-get update only when needed).
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

# The Etsy StatsD daemon for the metrics pipeline tests, pinned, in the repo-local .tools/.
STATSD_VERSION := 0.9.0
STATSD_STAMP   := .tools/.statsd-$(STATSD_VERSION)

$(STATSD_STAMP):
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm; }
	npm install --prefix .tools --no-audit --no-fund --omit=optional --loglevel=error statsd@$(STATSD_VERSION)
	touch $@

tools-statsd: $(STATSD_STAMP)

# axe-core for the accessibility tests (tests/system/test_a11y.py injects .tools/node_modules/axe-core/axe.min.js).
AXE_VERSION := 4.14.1
AXE_STAMP   := .tools/.axe-core-$(AXE_VERSION)

$(AXE_STAMP):
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm; }
	npm install --prefix .tools --no-audit --no-fund --omit=optional --ignore-scripts --loglevel=error axe-core@$(AXE_VERSION)
	touch $@

tools-axe: $(AXE_STAMP)

# The API reference viewer (GET /api/v1/docs): swagger-ui-dist, pinned, copied into static/vendor/
# (not committed: 1.7 MB of someone else's build; --ignore-scripts: its @scarf/scarf dependency would
# phone home on install). Without it the page still links the raw YAML.
SWAGGER_UI_VERSION := 5.35.0
SWAGGER_UI_DIR     := static/vendor/swagger-ui
SWAGGER_UI_STAMP   := $(SWAGGER_UI_DIR)/.version-$(SWAGGER_UI_VERSION)
SWAGGER_UI_FILES   := swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css LICENSE NOTICE

$(SWAGGER_UI_STAMP):
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm; }
	npm install --prefix .tools --no-audit --no-fund --omit=optional --ignore-scripts --loglevel=error swagger-ui-dist@$(SWAGGER_UI_VERSION)
	rm -rf $(SWAGGER_UI_DIR) && mkdir -p $(SWAGGER_UI_DIR)
	cd .tools/node_modules/swagger-ui-dist && cp $(SWAGGER_UI_FILES) $(CURDIR)/$(SWAGGER_UI_DIR)/
	touch $@

vendor-swagger-ui: $(SWAGGER_UI_STAMP)

# Redocly's OpenAPI linter (tests/handlers/test_openapi_lint.py) and tus-js-client, served to the
# cross-origin browser test (tests/system/test_cors_browser.py): pinned, in the repo-local .tools/.
REDOCLY_VERSION := 2.77.0
REDOCLY_STAMP   := .tools/.redocly-$(REDOCLY_VERSION)
TUS_JS_VERSION  := 4.3.1
TUS_JS_STAMP    := .tools/.tus-js-client-$(TUS_JS_VERSION)

$(REDOCLY_STAMP):
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm; }
	npm install --prefix .tools --no-audit --no-fund --omit=optional --loglevel=error @redocly/cli@$(REDOCLY_VERSION)
	touch $@

$(TUS_JS_STAMP):
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm; }
	npm install --prefix .tools --no-audit --no-fund --omit=optional --loglevel=error tus-js-client@$(TUS_JS_VERSION)
	touch $@

tools-npm: $(STATSD_STAMP) $(REDOCLY_STAMP) $(TUS_JS_STAMP) $(AXE_STAMP)

setup-runtime:
	$(call apt_install,$(RUNTIME_PACKAGES))

# System packages for the real-parts tests (nginx, Chromium, StatsD, Graphite...).
setup-system:
	$(call apt_install,$(DEBIAN_PACKAGES))

run: setup-runtime setup-python vendor-swagger-ui
	$(PY) run.py $(ARGS)

test: setup-python setup-system tools-npm vendor-swagger-ui
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup-python
	$(PY) -m ruff check .

bench-upload: setup-python
	$(PY) bench/upload_stream.py

bench-tus: setup-python
	$(PY) bench/tus.py

bench-resize: setup-python
	$(PY) bench/resize.py

# 200 clients, 30 s: direct to one process vs nginx -> two processes (needs nginx + wrk).
# Every load target takes ARGS, e.g. ARGS="--duration 10 --baseline-ref main --targets one,nginx".
bench-load: setup-python setup-system
	$(PY) bench/load.py $(ARGS)

# Multipart uploads only, 200 and 1000 clients: one process, --processes 2, nginx -> 2 (CPU ms/request).
bench-upload-load: setup-python setup-system
	$(PY) bench/load.py --mode upload $(ARGS)

# Downloads of one 100 KB file: the same targets and nginx serving it statically (the limit).
bench-download-load: setup-python setup-system
	$(PY) bench/load.py --mode download $(ARGS)

# deploy/compose/nginx.conf is nginx.conf rendered for the compose stack.
compose-nginx-conf: setup-python
	$(PY) -m tests.nginx_stack compose > deploy/compose/nginx.conf

bench-metrics: setup-python
	$(PY) bench/metrics_overhead.py

# Blobs on S3 (a throwaway Ceph RGW): 1 GiB upload, downloads per s3_download mode, two machines vs one.
.PHONY: bench-scale
bench-scale: setup-python setup-system
	$(PY) bench/scale.py all $(ARGS)

# Heavy: 10,000 WebSockets + 1,000 long-pollers against one server process (raises ulimit -n itself).
.PHONY: bench-fanout
bench-fanout: setup-python
	$(PY) bench/fanout.py $(ARGS)

# Mixed-load soak against one process (10 minutes; `make bench-soak ARGS="--minutes 2"`).
bench-soak: setup-python
	$(PY) bench/soak.py $(ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache static/vendor
