# The two commands of the README, plus bench. Every target installs what it needs first.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
DATA_DIR ?= data

.PHONY: deps build test run bench clean

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

run: build
	@bash scripts/run.sh $(BUILD_DIR) $(DATA_DIR)

bench: build
	@bash scripts/bench.sh $(BUILD_DIR) $(DATA_DIR)

clean:
	rm -rf $(BUILD_DIR)
