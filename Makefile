# The two commands a newcomer needs: `make demo` and `make test`. Each installs
# what is missing (scripts/install-deps), builds with CMake + Ninja (+ ccache),
# and runs.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
PGO_BUILD  ?= build-pgo
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build build-pgo demo test test-asan fuzz fuzz-build bench bench-pgo bench-smoke bench-controller soak clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja: | deps
	@cmake -S . -B $(BUILD) -G Ninja -DWEFT_WERROR=ON $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS)

# `weft demo` on its embedded defaults (docs/demo.md); e.g. make demo DEMO_ARGS="--duration 120".
DEMO_ARGS ?= --duration 60
demo: build
	@$(BUILD)/bin/weft demo $(DEMO_ARGS)

# Unit tests, dependency check, integration tests, incident replays, and a
# short run of every fuzz target.
test: build fuzz-build
	@cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 600
	@scripts/run-fuzz $(FUZZ_BUILD) 20

# The same suite under ASan + UBSan (+ LSan at exit). Release-only bounds
# (speed, RSS) are reported instead of asserted there: docs/testing.md.
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DWEFT_SANITIZE=ON -DWEFT_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j 2 --timeout 900

fuzz-build: deps
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DWEFT_FUZZ=ON -DWEFT_TESTS=OFF -DWEFT_BENCH=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz

# Longer fuzzing on demand: make fuzz FUZZ_SECONDS=600
FUZZ_SECONDS ?= 300
fuzz: fuzz-build
	@scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	@$(BUILD)/bench/weft_micro_bench
	@/usr/bin/python3 bench/e2e/run.py --weft $(BUILD)/bin/weft

# Long resilience runs (minutes each): config churn and connection churn.
soak: build
	@/usr/bin/python3 bench/soak/churn.py --weft $(BUILD)/bin/weft
	@/usr/bin/python3 bench/soak/connection_churn.py --weft $(BUILD)/bin/weft

# Controller scale (issue 4): 10 000 endpoints, 1 000 services, 100 subscribers,
# 100 changes/s through etcd; about 2 minutes (docs/benchmarks.md).
bench-controller: build
	@/usr/bin/python3 bench/controller_scale/run.py --weft $(BUILD)/bin/weft --client $(BUILD)/bench/weft_controller_scale_bench

# The same comparison with weft built profile-guided (scripts/build-pgo: an
# instrumented build, a one-minute training run, the optimised build; about
# 20 minutes before the benchmark starts). Results in $(PGO_BUILD)/bench.
build-pgo: deps
	@scripts/build-pgo $(PGO_BUILD)

bench-pgo: build-pgo
	@/usr/bin/python3 bench/e2e/run.py --weft $(PGO_BUILD)/bin/weft --out $(PGO_BUILD)/bench

bench-smoke: build
	@/usr/bin/python3 bench/e2e/run.py --weft $(BUILD)/bin/weft --smoke

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(PGO_BUILD)
