# Two set-up commands (see README.md): `make demo` and `make test`.
# Each creates .venv when it is missing and installs the package into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.skmood-installed
# Quiet TensorFlow's C++ start-up logging in everything make runs.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-fast test-oldest bench bench-serve docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,serve]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/skmood demo

# The browser tests need Debian's chromium: installed when missing (they skip,
# saying why, where it cannot be installed).
test: $(STAMP)
	bash .ci/install-browser.sh
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

# The oldest supported dependency versions, in their own venv (fast tests only).
test-oldest:
	test -x .venv-oldest/bin/python || $(PYTHON) -m venv .venv-oldest
	.venv-oldest/bin/python -m pip install --quiet -c .ci/oldest-constraints.txt -e ".[test]"
	.venv-oldest/bin/python -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/bench_synthetic.py

bench-serve: $(STAMP)
	$(PY) benchmarks/bench_serve.py

docs: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	$(PY) -m sphinx -b html docs docs/_build/html

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache docs/_build
