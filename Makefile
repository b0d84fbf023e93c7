# T21 — everything a fresh machine needs goes through `make install`, which the other targets call.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.t21-installed
# The Python client generator (tools/clientgen) pins its own dependencies: a venv of its own.
CLIENTGEN := .venv-clientgen
CLIENTGEN_STAMP := $(CLIENTGEN)/.installed
# uv as a module of the Python that runs make (where `install` puts it), else from PATH.
UV = $(shell if $(PYTHON) -m uv --version >/dev/null 2>&1; then echo "$(PYTHON) -m uv"; \
	elif uv --version >/dev/null 2>&1; then echo uv; else echo "$(PYTHON) -m uv"; fi)
HAVE_UV = $(PYTHON) -m uv --version >/dev/null 2>&1 || uv --version >/dev/null 2>&1
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core by default; 0 runs the suite in this process.
PYTEST_WORKERS ?= auto

.PHONY: install run test lint format lock clean

install: $(STAMP) $(CLIENTGEN_STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(HAVE_UV) || $(PYTHON) -m pip install --quiet uv
	@test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --require-hashes --python $(BIN)/python requirements.lock
	$(UV) pip install --quiet --no-deps --no-build-isolation --python $(BIN)/python -e .
	@touch $@

$(CLIENTGEN_STAMP): tools/clientgen/requirements.lock
	@$(HAVE_UV) || $(PYTHON) -m pip install --quiet uv
	@test -x $(CLIENTGEN)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(CLIENTGEN)
	$(UV) pip sync --quiet --require-hashes --python $(CLIENTGEN)/bin/python tools/clientgen/requirements.lock
	@touch $@

run: install
	$(BIN)/t21 serve

test: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

lock:
	@$(HAVE_UV) || $(PYTHON) -m pip install --quiet uv
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --no-emit-index-url --quiet -o requirements.lock
	@# The container image's lock: the runtime dependencies only, at the same versions.
	@cp requirements.lock requirements-prod.lock
	$(UV) pip compile pyproject.toml --universal --python-version 3.11 \
		--generate-hashes --no-emit-index-url --quiet -o requirements-prod.lock
	$(UV) pip compile tools/clientgen/requirements.in --universal --python-version 3.11 \
		--generate-hashes --no-emit-index-url --quiet -o tools/clientgen/requirements.lock

clean:
	rm -rf $(VENV) $(CLIENTGEN) clients/typescript/node_modules clients/typescript/generated .mypy_cache .ruff_cache .pytest_cache
