# benchorch: the two commands a newcomer needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint typecheck check bench clean

setup:
	@tools/setup.sh

# A quick look at the recipe's story on this host's CPU: baseline, fused and int8,
# as full-JIT and FlatBuffer files, 3 launches each, one load-time launch each, timed
# with the real speed_benchmark_torch (built for this host on first use, then cached).
DEMO_ARGS ?= --model demo:conv_bn_relu --dims 1,3,112,112 --recipe fuse,quantize,flatbuffer \
	--launches 3 --iter 10 --warmup 2 --load-launches 1 --out reports

demo: setup
	$(BIN)/benchorch sweep --device local $(DEMO_ARGS)

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
