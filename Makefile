# Quick start:  make demo   (set up, embed MovieLens-100k, train, serve on 127.0.0.1:8000)
#               make test   (the test suite; `make test-all` adds the slow tests)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
REC := $(VENV)/bin/rec
STAMP := $(VENV)/.installed
ITEMS := var/data/movielens/items.parquet
EMBEDDED := var/.embedded
TRAINED := var/.trained
export RAY_USAGE_STATS_ENABLED ?= 0
export RAY_AUTH_MODE ?= disabled

.PHONY: install data embed train evaluate nightly demo cluster-demo serve replay bench bench-live bench-retrieval bench-scale bench-embed bench-recovery bench-event-log wrk sasrec-reference test test-all browser mlflow-ui clean

install: $(STAMP)

# torch first, pinned to the CPU build this machine has: any other version
# (or letting ray/transformers choose) pulls a multi-GB CUDA wheel.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $@

data: $(ITEMS)

$(ITEMS): | $(STAMP)
	$(REC) data

# The nightly jobs. `make embed` / `make train` always run; `make demo` runs
# them only when their inputs changed since the last run (the stamps).
embed: data
	$(REC) embed
	touch $(EMBEDDED)

train: data
	$(REC) train
	touch $(TRAINED)

$(EMBEDDED): $(ITEMS) configs/base.yaml configs/embed_catalog.yaml
	$(MAKE) embed

$(TRAINED): $(EMBEDDED) configs/base.yaml configs/train_interest.yaml
	$(MAKE) train

evaluate: data
	$(REC) evaluate

# The nightly pipeline: embed, train, evaluate champion vs challenger, gate, promote;
# with a demo running, `make nightly SERVE_URL=http://127.0.0.1:8000` also reloads it.
nightly: data
	$(REC) nightly $(if $(SERVE_URL),--serve-url $(SERVE_URL))
	touch $(EMBEDDED) $(TRAINED)

demo: $(TRAINED)
	$(REC) demo

# The production layout on this machine (about 5 minutes to serve): moto's S3 server, MLflow on
# PostgreSQL, JetStream, a Ray head and two worker nodes; configs/cluster.yaml. Stop `make demo` first.
cluster-demo: data
	$(REC) cluster-demo

serve: install
	$(REC) serve

# Against a running app (make demo in another terminal):
replay: install
	$(REC) replay

bench: install
	$(REC) bench

# The live path under load (wrk, bounded: 10 s a point, 3 rounds: about 6 minutes), against a running app.
bench-live: install wrk
	PYTHONPATH=. $(PY) scripts/bench_live.py

# Retrieval at 100k and 1M synthetic items, flat against the ANN index (about 10 minutes, 4 GB of memory).
bench-retrieval: install
	PYTHONPATH=. $(PY) scripts/bench_retrieval.py

# Recommendation latency through the API at 10k, 100k and 1M synthetic items (about 4 minutes; stop the demo first).
bench-scale: install
	PYTHONPATH=. $(PY) scripts/bench_scale.py

# A user shard's restart time at 100k, 1M and 10M logged events, from the whole log and from a snapshot
# (about 10 minutes, 8 GB of memory at 10M).
bench-recovery: install
	PYTHONPATH=. $(PY) scripts/bench_recovery.py

# Events a user shard logs per second on each event-log backend: JSON-lines files and JetStream (about 20 s).
bench-event-log: install
	PYTHONPATH=.:tests $(PY) scripts/bench_event_log.py

# The embed job against a plain loop on 20,000 synthetic items of 40-60 words (about 15 minutes on 2 cores).
bench-embed: install
	PYTHONPATH=. $(PY) scripts/bench_embed.py

# RecBole 1.2.1's SASRec trained until early stopping on the same split (about
# an hour on 2 cores). RecBole pins an old Ray, so it gets a virtualenv of its own.
RECBOLE_VENV := .venv-recbole
sasrec-reference:
	$(PYTHON) -m venv $(RECBOLE_VENV)
	$(RECBOLE_VENV)/bin/pip install -q torch==2.13.0
	$(RECBOLE_VENV)/bin/pip install -q --no-deps recbole==1.2.1
	$(RECBOLE_VENV)/bin/pip install -q 'numpy<2' 'pandas<3' scipy tqdm colorlog==4.7.2 colorama==0.4.4 \
		scikit-learn pyyaml tensorboard thop tabulate plotly texttable psutil
	$(RECBOLE_VENV)/bin/python scripts/sasrec_reference.py

test: data browser
	$(PY) -m pytest

test-all: data browser
	$(PY) -m pytest -m ''

# The browser test drives Debian's Chromium (Playwright's own download is not reachable).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || $(SUDO) apt-get install -y -q chromium \
		|| { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

wrk:
	@command -v wrk >/dev/null || $(SUDO) apt-get install -y -q wrk \
		|| { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk; }

mlflow-ui: install
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///var/mlflow.db --host 127.0.0.1 --port 5000

clean:
	rm -rf var
