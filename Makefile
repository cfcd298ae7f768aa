# The two commands of the README. Each creates its own virtual environment on first use.
#   make train   train specs/red_wine.stack on the NumPy backend (no torch needed)
#   make test    install everything the tests need (torch pinned to the CPU build) and run them,
#                then the contract sample in ../shared/contract
PYTHON ?= python3
VENV := .venv
TEST_VENV := .venv-test
# The package's own torch requirement is a range; here we pin the CPU build that this
# machine's pip finds on disk (a range admitting newer releases pulls a multi-GB CUDA build).
TORCH_PIN := torch==2.13.0
# The versions the ONNX tests were verified with (the extras give ranges).
ONNX_PIN := onnx==1.23.1 onnxruntime==1.30.0
RUN_DIR := runs/red_wine

.PHONY: train test fuzz lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e .
	$(VENV)/bin/python -m compileall -q stackspec  # bytecode now: `check` starts fast
	touch $@

$(TEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/python -m pip install -q $(TORCH_PIN) $(ONNX_PIN)
	$(TEST_VENV)/bin/python -m pip install -q -e '.[torch,dev,fast,tensorboard,onnx-test,keras,keras-test,lsp,tune,step]'
	$(TEST_VENV)/bin/python -m compileall -q stackspec
	touch $@

train: $(VENV)/.installed
	$(VENV)/bin/stackspec train specs/red_wine.stack --data data/red-wine.csv --target quality \
		--out $(RUN_DIR) --force
	@echo "learning curves: $(RUN_DIR)/curves.png  (history: $(RUN_DIR)/history.csv)"

# The project's tests, then the contract's executable sample when ../shared/contract is there
# (it calls the `stackspec` on PATH; shared/ is read-only, hence no pytest cache).
test: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/python -m pytest -q
	if [ -d ../shared/contract ]; then PATH="$(CURDIR)/$(TEST_VENV)/bin:$$PATH" \
		$(TEST_VENV)/bin/python -m pytest -q -p no:cacheprovider ../shared/contract; fi

# The fuzz targets of tests/reliability with 10,000 examples each (a few hundred in `make test`).
fuzz: $(TEST_VENV)/.installed
	STACKSPEC_FUZZ_EXAMPLES=10000 $(TEST_VENV)/bin/python -m pytest -q tests/reliability -k fuzz

lint: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/ruff check . && $(TEST_VENV)/bin/ruff format --check .

bench: $(TEST_VENV)/.installed
	for b in benchmarks/bench_*.py; do $(TEST_VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(TEST_VENV) runs build *.egg-info
