# streaminfer — two set-up commands: `make demo` and `make test`. Everything else is plumbing.
#
# Installs are cached OUTSIDE the clone (keyed by requirements.lock through uv's content cache), so a
# fresh clone re-installs in seconds after the first time; a fresh machine still works from nothing.

SHELL := /bin/bash
PYTHON ?= python3.11
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/streaminfer
UV_VERSION := 0.13.9
UV := $(CACHE_DIR)/tools/uv-$(UV_VERSION)/bin/uv
VENV := .venv
export UV_CACHE_DIR := $(CACHE_DIR)/uv
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := hardlink
PYTEST := $(VENV)/bin/python -m pytest
# `docker compose config` validates compose/docker-compose.yml. These machines have the docker
# client but no compose plugin and no engine: build the plugin from the Go module proxy, once.
COMPOSE_VERSION := v2.32.4
export STREAMINFER_DOCKER_CONFIG := $(CACHE_DIR)/docker-$(COMPOSE_VERSION)
COMPOSE_PLUGIN := $(STREAMINFER_DOCKER_CONFIG)/cli-plugins/docker-compose


.PHONY: install compose-plugin demo test test-unit test-integration stack-up stack-down bench lock clean

$(UV):
	$(PYTHON) -m venv $(CACHE_DIR)/tools/uv-$(UV_VERSION)
	$(CACHE_DIR)/tools/uv-$(UV_VERSION)/bin/pip install -q uv==$(UV_VERSION)

$(VENV)/.installed: requirements.lock pyproject.toml | $(UV)
	$(UV) venv -q --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync -q --compile-bytecode -p $(VENV)/bin/python requirements.lock
	$(UV) pip install -q -p $(VENV)/bin/python --no-deps -e .
	touch $@

install: $(VENV)/.installed  ## Python deps into .venv (Kafka jars and Triton come with `stack up`)

$(COMPOSE_PLUGIN):
	@if command -v docker >/dev/null && command -v go >/dev/null; then \
	  echo "building docker compose $(COMPOSE_VERSION) plugin from the Go module proxy (once, cached)"; \
	  mkdir -p $(dir $@) && GOBIN=$(STREAMINFER_DOCKER_CONFIG)/gobin GOFLAGS=-mod=mod \
	    go install github.com/docker/compose/v2/cmd@$(COMPOSE_VERSION) && \
	  mv $(STREAMINFER_DOCKER_CONFIG)/gobin/cmd $@; \
	else echo "docker client or go missing: compose validation test will report it"; fi

compose-plugin: $(COMPOSE_PLUGIN)

demo: install  ## The main job on the local real stack
	$(VENV)/bin/streaminfer demo

test: install compose-plugin  ## The whole suite: unit, then integration against the real stack
	$(PYTEST) tests/unit -q
	$(PYTEST) tests/integration -q

test-unit: install
	$(PYTEST) tests/unit -q

test-integration: install
	$(PYTEST) tests/integration -q

stack-up: install
	$(VENV)/bin/streaminfer stack up

stack-down: install
	$(VENV)/bin/streaminfer stack down

bench: install
	$(VENV)/bin/streaminfer bench

lock: | $(UV)  ## Re-resolve requirements.lock from pyproject.toml
	$(UV) pip compile -q pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock

clean:
	-$(VENV)/bin/streaminfer stack down
	rm -rf $(VENV) .pytest_cache .hypothesis
