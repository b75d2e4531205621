# mmfuse: `make run` (main job on the built-in dataset) and `make test` (whole suite through ctest).
BUILD ?= build
JOBS ?= $(shell nproc)
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo Ninja || echo "Unix Makefiles")
DEFAULT_DATA ?= $(BUILD)/default-data
# A cold build compiles sources in batches of 8 (one translation unit each): the heavy torch and
# gtest templates are instantiated once per batch instead of once per file, which cuts the compile
# CPU time of a fresh checkout several-fold. For quick incremental work, configure with UNITY=.
UNITY ?= -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8

.PHONY: all deps configure build run test bench format clean

all: build

deps:
	@./scripts/install_deps.sh

configure: deps
	@if [ ! -f $(BUILD)/CMakeCache.txt ]; then \
	  cmake -S . -B $(BUILD) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=Release $(UNITY); fi

build: configure
	cmake --build $(BUILD) -j$(JOBS)

run: configure
	cmake --build $(BUILD) -j$(JOBS) --target mmfuse
	./scripts/main_job.sh $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900

bench: build
	./bench/run_all.sh $(BUILD)

format:
	find src tools tests bench -name '*.h' -o -name '*.cpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
