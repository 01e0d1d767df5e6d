# The two commands of the README: `make run` and `make test`.  Both create
# the virtual environment when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# One install stamp per layer, so that `make test` after `make run` adds
# only what is missing: the package itself (all `make run` needs), then
# each extra that a target needs (test, docs, bench).
STAMP  := $(VENV)/.installed
EXTRAS := test docs bench
# compat mode puts the checkout on sys.path, so Twisted's plugin scan
# finds twisted/plugins/lwstp_plugin.py (a plain install copies it).  -qq:
# setuptools warns at length that compat mode is transitional; errors
# still show.
PIP_E  := $(PY) -m pip install -qq --config-settings editable_mode=compat -e

.PHONY: run test test-debug venv clean bench bench-streaming bench-plot soak docs graphviz lint mutants matrix

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PIP_E) .
	touch $(STAMP)

# .installed-test, .installed-docs, .installed-bench: the package's extra.
$(VENV)/.installed-%: $(STAMP)
	$(PIP_E) '.[$*]'
	touch $@

# The demo with its defaults; options of its own go in ARGS, for example
#   make run ARGS="--threads 8 --count 2000000"
ARGS ?=
run: $(STAMP)
	$(VENV)/bin/twistd -n --pidfile= lwstp $(ARGS)

# Both runners bound every test (issue 17).  pytest: pytest-timeout, per
# test (pyproject.toml).  trial: each asynchronous case's own `timeout`;
# a synchronous hang is caught by the bound on the whole run, where
# faulthandler prints every thread's stack (the hung test among them).
TRIAL_BOUND := 900
test: $(foreach e,$(EXTRAS),$(VENV)/.installed-$(e)) docs lint
	$(PY) -m pytest -q
	$(PY) -m pytest -q -p no:twisted tests/run_twisted_suites.py
	PYTHONFAULTHANDLER=1 timeout -s ABRT $(TRIAL_BOUND) $(PY) -m twisted.trial tests

# Twisted's suites under both lwstp reactors in debug mode (LWSTP_DEBUG=1),
# compared with the stock reactors (issue 27; about 3 minutes, not part of
# `make test`).  tests/run_twisted_suites.py lists the tests that call the
# reactor from threads on purpose, which debug mode refuses.
test-debug: $(VENV)/.installed-test
	LWSTP_SUITES_DEBUG=1 $(PY) -m pytest -q -p no:twisted tests/run_twisted_suites.py

# Strict typing (mypy with the zope plugin) and lint (ruff): both clean.
lint: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m mypy

# The documentation site, warnings as errors.  Graphviz draws the state
# diagram; it is installed when missing (this needs root, as here and in CI).
docs: $(VENV)/.installed-docs graphviz
	$(VENV)/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html
	@echo "docs built: open docs/_build/html/index.html"

graphviz:
	@command -v dot >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; }

# The benchmarks: a full run unpinned and one pinned to CPU 0, then plots.
BENCH_DIR := docs/benchmarks
bench: $(VENV)/.installed-test $(VENV)/.installed-bench
	$(PY) -m benchmarks --json $(BENCH_DIR)/unpinned.json
	$(PY) -m benchmarks --pin 0 --json $(BENCH_DIR)/pinned.json

# Case 8, gathered writes and streaming from tasks (issues 20 and 25; about
# 15 minutes): its HTTP load comes from wrk and its epoll_ctl counts from
# strace, both Debian packages, installed here when missing.
bench-streaming: $(VENV)/.installed-test $(VENV)/.installed-bench
	@command -v wrk >/dev/null 2>&1 && command -v strace >/dev/null 2>&1 || { \
	  apt-get update -qq || apt-get -o APT::Sandbox::User=root update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk strace >/dev/null; }
	$(PY) -m benchmarks.eager --json $(BENCH_DIR)/eager.json --plot $(BENCH_DIR)/streaming.png

bench-plot: $(VENV)/.installed-bench
	$(PY) -m benchmarks.plot $(BENCH_DIR)/unpinned.json $(BENCH_DIR)/pinned.json --out $(BENCH_DIR)

# The chaos soak (a 15 s version runs inside make test).
soak: $(VENV)/.installed-test
	$(PY) -m soak --seconds 60

# Mutation testing (issue 17; not part of `make test`): mutmut mutates the
# engine rooms, the reactor and the WSGI container ([tool.mutmut] in
# pyproject.toml) and runs the tests that reach each mutant.  A part:
#   make mutants MUTANTS='twisted_lwstp._owners*'
# The report goes to docs/benchmarks/mutants.txt.
MUTANTS ?=
mutants: $(VENV)/.installed-test
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(PY) -m benchmarks.mutants > docs/benchmarks/mutants.txt
	@cat docs/benchmarks/mutants.txt | head -40

# The version matrix (issue 23; not part of `make test`): the pytest suite
# on Python 3.11, 3.12 and 3.13, each with the lowest Twisted that
# pyproject.toml admits and the latest (noxfile.py).  pyenv's interpreters
# are put on PATH where pyenv has them.  One Python's two legs:
#   make matrix NOX_ARGS="-s tests-3.12"
PYENV_BINS := $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/3.1[123].*/bin)
NOX_ARGS ?=
matrix: $(VENV)/.installed-test
	$(PY) -m pip install --quiet 'nox>=2024.10.9'
	PATH="$(subst $(eval) ,:,$(PYENV_BINS)):$$PATH" $(PY) -m nox $(NOX_ARGS)

clean:
	rm -rf $(VENV) _trial_temp* .pytest_cache mutants .nox
