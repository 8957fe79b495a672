# make demo   set up, then encode -> info -> truncate -> decode the sample photo
# make test   set up, then run the test suite
# make bench  scalecodec against the established codecs on Kodak (KODAK=folder of PNGs),
#             then its spatial and fine-grained scalability (bench-spatial, bench-fgs,
#             bench-fgs-spatial: each alone);
#             installs the peers' tools if missing; results in results/<folder name>/
# make train  train the shipped model further (needs TRAIN_DATA=folder of photos)
# make fuzz   the long fuzzing campaign (10^6 parser, 10^4 decoder inputs); results/fuzz.md

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KODAK ?= ../shared/data/kodak
TRAIN_DATA ?= ../shared/data/train
MINUTES ?= 120

.PHONY: demo test bench bench-spatial bench-fgs bench-fgs-spatial train fuzz clean

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

demo: $(BIN)/.installed
	PATH="$(abspath $(BIN)):$$PATH" bash examples/demo.sh

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed
	bash scripts/install-peers.sh
	$(BIN)/scc bench $(KODAK) --out results/$(notdir $(abspath $(KODAK))) --force
	$(BIN)/scc bench-spatial $(KODAK) --out results/$(notdir $(abspath $(KODAK))) --force
	$(MAKE) bench-fgs
	$(MAKE) bench-fgs-spatial

bench-spatial: $(BIN)/.installed
	$(BIN)/scc bench-spatial $(KODAK) --out results/$(notdir $(abspath $(KODAK))) --force

bench-fgs: $(BIN)/.installed
	$(BIN)/python scripts/measure-fgs.py results/$(notdir $(abspath $(KODAK)))/fgs.json $(KODAK)/*.png

bench-fgs-spatial: $(BIN)/.installed
	$(BIN)/python scripts/measure-fgs-spatial.py results/$(notdir $(abspath $(KODAK)))/fgs-spatial.json $(KODAK)/*.png

train: $(BIN)/.installed
	$(BIN)/scc train $(TRAIN_DATA) --workdir runs/train --minutes $(MINUTES) --threads 2

fuzz: $(BIN)/.installed
	$(BIN)/python tests/fuzz.py campaign --parse-runs 1000000 --decode-runs 10000 --out results/fuzz.md

clean:
	rm -rf $(VENV) demo-out .pytest_cache
