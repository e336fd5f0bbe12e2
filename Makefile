# torchslim: `make demo` and `make test` each set up everything on a fresh machine.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.torchslim-installed

.PHONY: install demo test test-e2e coverage lint report test-slow test-zoo test-zoo-sample test-zoo-giants bench-cifar bench-latency bench-prune-speed bench-int8 bench-mnist5k bench-idap bench-cifar-quant bench-yolo bench-executor bench-streaming bench-demo-speed bench-generation clean

install: $(STAMP)

# uv installs the same pinned packages as pip (same `pip freeze`), in 15 s from its cache instead of
# pip's 3.5 minutes (docs/DESIGN.md). Should uv be unreachable, pip does the same install.
TORCH   := torch==2.14.1 torchvision==0.29.1
EXTRAS  := .[dev,yolo,ray,mlflow,search,openvino]

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	( $(PY) -m pip install --disable-pip-version-check -q 'uv<1' && \
	  $(VENV)/bin/uv pip install --python $(PY) -q $(TORCH) -e '$(EXTRAS)' ) || \
	( $(PY) -m pip install --disable-pip-version-check -q $(TORCH) && \
	  $(PY) -m pip install --disable-pip-version-check -q -e '$(EXTRAS)' )
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/torchslim run configs/quickstart.yaml

report: $(STAMP)
	$(VENV)/bin/torchslim report runs/quickstart

# The HTML report test drives Debian's Chromium (headless, offline) through Playwright.
CHROMIUM ?= /usr/bin/chromium

$(CHROMIUM):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium

# Hygiene first (seconds): lint, format, and the import layers (pyproject's [tool.importlinter]).
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports

# The default suite: every fast, deterministic check (README, "Tests"); the 15 slowest are printed so
# a test that turns slow is seen, and the suite's timeout (pyproject) fails one that turns very slow.
test: lint $(CHROMIUM)
	$(PY) -m pytest -q --durations=15

# The long integration runs (Ultralytics training, a two-node Ray cluster, real processes killed and
# interrupted, multi-seed runs); each keeps a fast sibling in the default suite. CI runs it after `test`.
test-e2e: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest -q -m e2e -o timeout=900 --durations=15

# The default suite's line coverage of the package (slower than `make test`: every line is traced)
coverage: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest -q --cov=torchslim --cov-report=term

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow -o timeout=1800 --durations=15
	# the model-file fuzzing of the default suite, five times deeper
	TS_EXAMPLES=2000 $(PY) -m pytest -q -o timeout=1800 tests/export/test_untrusted.py -k any_mutation

# Issue 19's zoo (an hour or more): each model alone in a subprocess; runs/zoo.jsonl records memory and time.
test-zoo: $(STAMP)
	$(PY) -m pytest -q -m zoo -o timeout=1000 -rA

# Issue 37's test of generality: N models drawn from the whole timm catalogue (SEED= repeats a draw).
N ?= 40
SEED ?=
test-zoo-sample: $(STAMP)
	$(PY) -m tests.prune.zoo_sample --n $(N) $(if $(SEED),--seed $(SEED),) $(if $(LOG),--resume --log $(LOG),)

test-zoo-giants: $(STAMP)
	$(PY) -m pytest -q -m zoo_giant -o timeout=2000 -rA

bench-generation: $(STAMP)  ## seed 004's DCGAN row: hours of CPU, resumable (docs/BENCHMARKS.md)
	$(PY) benchmarks/seed004_generation.py --workers 1

bench-latency: $(STAMP)
	$(PY) benchmarks/latency_resnet.py

bench-cifar: $(STAMP)
	$(PY) benchmarks/cifar10_resnet20.py
	$(VENV)/bin/torchslim sensitivity configs/compare/cifar10jpg_resnet20_pruning.yaml

bench-prune-speed: $(STAMP)
	$(PY) benchmarks/prune_speed.py

bench-int8: $(STAMP)
	$(PY) benchmarks/int8_speed.py

bench-mnist5k: $(STAMP)
	$(PY) benchmarks/recipe_table.py configs/compare/mnist5k_pruning.yaml
	$(PY) benchmarks/recipe_table.py configs/compare/mnist5k_int8.yaml
	$(PY) benchmarks/recipe_table.py configs/compare/mnist5k_quant_cnv.yaml
	$(PY) benchmarks/recipe_table.py configs/compare/mnist5k_efficientnet_b0.yaml

bench-idap: $(STAMP)
	$(PY) benchmarks/idap_equal_macs.py configs/idap/mnist5k_equal_macs.yaml
	$(VENV)/bin/torchslim run configs/idap/mnist5k_chains.yaml
	$(VENV)/bin/torchslim run configs/idap/vit_tiny_mnist5k.yaml

bench-cifar-quant: $(STAMP)
	$(PY) benchmarks/recipe_table.py configs/compare/cifar10jpg_quant_cnv_w2a2.yaml

clean:
	rm -rf $(VENV) runs

bench-executor: $(STAMP)
	$(PY) benchmarks/executor_speed.py

bench-demo-speed: $(STAMP)
	$(PY) benchmarks/demo_speed.py

bench-streaming: $(STAMP)
	$(PY) benchmarks/streaming.py

bench-yolo: $(STAMP)
	$(PY) benchmarks/yolo11n_prune.py
