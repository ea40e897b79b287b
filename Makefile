# Thin wrapper over CMake. Targets: deps, all (release build -> build/thinkrl),
# test, bench, demo, fuzz, memcheck, clean. SAN=1 builds with ASan + UBSan into
# build-san/; fuzz builds libFuzzer targets (clang) into build-fuzz/ and runs each
# FUZZ_SECONDS; memcheck runs a short RL run under valgrind (build-vg/, no -march=native).
SAN ?= 0
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
ifeq ($(SAN),1)
BUILD := build-san
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=Debug -DTHINKRL_SAN=ON -DTHINKRL_FIXTURE_FROM=$(CURDIR)/build/tests
else
BUILD := build
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=Release
endif

.PHONY: all deps configure test bench demo fuzz memcheck clean

all: configure
	@cmake --build $(BUILD) -j $(JOBS)

configure:
	@[ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

deps:
	@bash scripts/deps.sh

test: deps all
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: deps all
	@bash bench/run.sh $(BUILD)

demo: deps all
	@bash scripts/demo.sh $(BUILD)

fuzz: deps
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

memcheck: deps
	@bash scripts/memcheck.sh

clean:
	rm -rf build build-san build-fuzz build-vg
