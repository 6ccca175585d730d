# `make run` and `make test` are all a fresh clone needs: each sets up .venv first.
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed
# torch as requirements.lock pins it: PyPI's torchaudio links against PyPI's (CUDA) torch,
# which runs on the CPU too. `make lock TORCH=...` moves it.
TORCH  ?= 2.14.1
# Folders of wheels this machine keeps on disk (PyTorch and its CUDA libraries): uv takes
# the locked versions from there instead of downloading them; elsewhere (none found) it
# downloads the same versions from PyPI.
WHEELS ?= $(wildcard /opt/pypi-more/files /opt/pypi/files)
FIND_LINKS := $(foreach d,$(WHEELS),--find-links $(d))
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: setup lock run test test-slow test-all params params-check bench bench-serve bench-labels bench-scaling bench-sweep test-assets lint clean

# uv installs the exact versions of requirements.lock (pyproject.toml resolved, dev extra
# included) in seconds; pip only bootstraps uv into the venv.
$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'uv>=0.5'
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) $(FIND_LINKS) requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)          ## create .venv and install mlcycle with its locked dependencies

lock: setup              ## re-resolve requirements.lock after changing pyproject.toml's dependencies
	echo 'torch==$(TORCH)' > $(VENV)/torch-pin.txt
	$(UV) pip compile --quiet --python $(PY) $(FIND_LINKS) --extra dev -c $(VENV)/torch-pin.txt \
		--no-header --output-file requirements.lock pyproject.toml

run: setup               ## run the default pipeline (dvc repro)
	dvc repro

# pytest-xdist, two workers, a test file each; each prints its 15 slowest tests.
PYTEST := $(PY) -m pytest -q -n 2 --dist loadfile --durations=15

test: setup              ## every test but those marked slow (~10–13 min on 2 cores)
	$(PYTEST) -m "not slow"

test-slow: setup         ## the tests marked slow: DVC end to end, fine-tuning, the monitor loop (~15 min)
	$(PYTEST) -m slow

test-all: setup          ## both, in one run (CI runs test, then test-slow)
	$(PYTEST) -m "slow or not slow"

params: setup            ## recompose params.yaml from conf/ (make params O="task=keywords")
	$(PY) -m mlcycle.config $(O)

params-check: setup      ## fail if params.yaml differs from the composition of conf/
	$(PY) -m mlcycle.config --check

bench: setup             ## featurize throughput vs librosa, training samples/s
	$(UV) pip install --quiet --python $(PY) $(FIND_LINKS) -c requirements.lock -e '.[bench]'
	$(PY) benchmarks/featurize_throughput.py

bench-serve: setup       ## mlcycle serve vs naive servers and the HTTP floor at 1, 8, 32, 128 clients (needs make run)
	$(PY) benchmarks/serve_load.py

bench-labels: setup      ## flipped labels found by the review, corrected, accuracy recovered (~12 min)
	$(PY) benchmarks/label_noise.py

bench-scaling: setup     ## time and peak memory per stage at 1x, 2x, 4x the default data (~25 min)
	$(PY) benchmarks/scaling.py

bench-sweep: setup       ## the 2 x 2 digits sweep with dvc queue start -j 2 vs -j 1 (~10 min)
	$(PY) benchmarks/parallel_sweep.py

test-assets: run         ## refresh tests/assets/ from the default run (after its metrics change)
	rm -rf tests/assets/keywords_package
	cp -r models/package tests/assets/keywords_package

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:                   ## remove pipeline outputs (not the venv)
	rm -rf data/raw data/validated data/features models/model.ckpt dvclive
