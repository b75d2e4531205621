# mmfuse: `make run` (main job on the built-in dataset) and `make test` (whole suite through ctest).
BUILD ?= build
JOBS ?= $(shell nproc)
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo Ninja || echo "Unix Makefiles")
DEFAULT_DATA ?= $(BUILD)/default-data
# A cold build compiles sources in batches of 8 (one translation unit each): the heavy torch and
# gtest templates are instantiated once per batch instead of once per file, which cuts the compile
# CPU time of a fresh checkout several-fold. For quick incremental work, configure with UNITY=.
UNITY ?= -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8

.PHONY: all deps configure build run test bench format clean fuzz test-sanitize

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

# libFuzzer targets under ASan + UBSan (clang; fuzz/CMakeLists.txt), run one with
# scripts/fuzz.sh TARGET SECONDS. Not part of `make test` or CI.
FUZZ_BUILD ?= build-fuzz
fuzz:
	@./scripts/install_deps.sh --fuzz
	@if [ ! -f $(FUZZ_BUILD)/CMakeCache.txt ]; then \
	  cmake -S fuzz -B $(FUZZ_BUILD) -G "$(GENERATOR)" -DCMAKE_CXX_COMPILER=clang++ \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo; fi
	nice -n 19 cmake --build $(FUZZ_BUILD) -j$(JOBS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer in its own folder (several
# times the CPU of `make test`; not part of CI). Leak checking is off: LibTorch's and OpenMP's
# process-lifetime allocations would drown real reports.
SANITIZE_BUILD ?= build-sanitize
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
test-sanitize: deps
	@if [ ! -f $(SANITIZE_BUILD)/CMakeCache.txt ]; then \
	  cmake -S . -B $(SANITIZE_BUILD) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=RelWithDebInfo $(UNITY) \
	    -DMMFUSE_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="$(SANITIZE_FLAGS)" \
	    -DCMAKE_EXE_LINKER_FLAGS="$(SANITIZE_FLAGS)" -DCMAKE_SHARED_LINKER_FLAGS="$(SANITIZE_FLAGS)"; fi
	nice -n 19 cmake --build $(SANITIZE_BUILD) -j$(JOBS)
	cd $(SANITIZE_BUILD) && ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  nice -n 19 ctest --output-on-failure -j$(JOBS) --timeout 3600

format:
	find src tools tests bench -name '*.h' -o -name '*.cpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
