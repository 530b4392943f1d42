# Every target creates .venv on first use: torch==2.13.0 first (a CPU build from local disk), then the package.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test bench lint clean
.PHONY: quality demo-zh

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,zh,export]'
	touch $(STAMP)

demo: $(STAMP)
	bash examples/demo.sh

# the Chinese path: vocabulary, NEZHA pretraining, NER (and ChnSentiCorp) teachers, general and NER task distillation
demo-zh: $(STAMP)
	bash examples/demo_zh.sh

test: $(STAMP)
	$(BIN)/ruff check tinybert tests bench examples *.py
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# distillation quality over seeds (bench/quality.py; QUALITY_ARMS=all for every arm, QUALITY_SEEDS=N)
QUALITY_ARMS ?= label_only,demo
QUALITY_SEEDS ?= 3
quality: $(STAMP)
	$(BIN)/python bench/quality.py --arms $(QUALITY_ARMS) --seeds $(QUALITY_SEEDS)

lint: $(STAMP)
	$(BIN)/ruff check tinybert tests bench examples *.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
