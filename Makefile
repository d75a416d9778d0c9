# benchorch: the two commands a newcomer needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint typecheck check bench clean

setup:
	@tools/setup.sh

demo: setup
	$(BIN)/benchorch sweep --device local --model demo:conv_bn_relu --launches 3 --iter 20 --out reports

test: setup
	tools/run-tests.sh

lint:
	$(BIN)/ruff check benchorch tests benchmarks
	$(BIN)/ruff format --check benchorch tests benchmarks

typecheck:
	$(BIN)/mypy

check: lint typecheck

bench: setup
	@for s in benchmarks/*.py; do echo "== $$s"; $(BIN)/python $$s || exit $$?; done

clean:
	rm -rf $(VENV) .venv-debian .cache build dist *.egg-info reports/*.html
