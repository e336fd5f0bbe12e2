# torchslim: `make demo` and `make test` each set up everything on a fresh machine.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.torchslim-installed

.PHONY: install demo test test-slow bench-cifar bench-latency clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/torchslim run configs/quickstart.yaml

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench-latency: $(STAMP)
	$(PY) benchmarks/latency_resnet.py

bench-cifar: $(STAMP)
	$(PY) benchmarks/cifar10_resnet20.py

clean:
	rm -rf $(VENV) runs
