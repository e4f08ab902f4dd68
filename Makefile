# Two commands do all set-up on a fresh machine:
#   make demo   - creates .venv, installs everything, runs the demo sweep and writes its report
#   make test   - the same set-up, plus Chromium for the browser tests, then the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# tensorflow-cpu where there is no NVIDIA GPU; the GPU build (with its CUDA wheels) where there is.
TF_PKG ?= $(shell if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then echo 'tensorflow[and-cuda]'; else echo tensorflow-cpu; fi)
TF_VERSION ?= >=2.16,<2.22
# PyTorch for the torch backend: PyPI's wheel is a CUDA build (GBs); a CPU build lies on this kind of
# machine's disk, found through pip's find-links. Installed only from there (--no-index), else skipped.
TORCH_PKG ?= torch==2.13.0
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
OUT ?= runs/demo
export JUPYTER_PREFER_ENV_PATH := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test unit lint browser-deps docs bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[notebook,test,ray,backends]' '$(TF_PKG)$(TF_VERSION)'
	if $(PY) -m pip install -q --no-index --no-deps '$(TORCH_PKG)' 2>/dev/null; then $(PY) -m pip install -q '$(TORCH_PKG)'; \
	else echo "PyTorch: no local CPU wheel of $(TORCH_PKG); the torch backend's tests will skip"; fi
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(STAMP)

demo: install
	$(PY) -m workbench demo --out $(OUT)

# Debian's Chromium drives the real-browser tests (a test tool's own browser download fails offline).
browser-deps:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

test: install browser-deps lint
	$(PY) -m pytest -q -ra

unit: install
	$(PY) -m pytest -q -m "not browser and not notebook and not slow"

# ruff (notebooks included), the notebook pairs, the import contracts in pyproject.toml
# (TensorFlow and Keras only in workbench.trial), and mypy on the package ([tool.mypy]). Notebooks are edited as notebooks/*.py
# (py:percent) and paired with the .ipynb by jupytext: the pairs check fails, with a diff,
# while an .ipynb differs from its .py (fix: jupytext --sync).
lint: install
	$(PY) -m ruff check workbench tests bench notebooks
	$(PY) -m tests.notebooks.pairs
	$(VENV)/bin/lint-imports
	$(PY) -m mypy workbench

docs: install
	$(PY) -m workbench.render.docs notebooks docs/html

bench: install
	$(PY) bench/bench_overhead.py

clean:
	rm -rf $(VENV) runs docs/html .pytest_cache
