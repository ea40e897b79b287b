# Thin wrapper over CMake. Targets: deps, all (release build -> build/thinkrl),
# test, bench, demo, clean. SAN=1 builds with ASan + UBSan into build-san/.
SAN ?= 0
JOBS ?= $(shell nproc)
ifeq ($(SAN),1)
BUILD := build-san
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=Debug -DTHINKRL_SAN=ON -DTHINKRL_FIXTURE_FROM=$(CURDIR)/build/tests
else
BUILD := build
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=Release
endif

.PHONY: all deps configure test bench demo clean

all: configure
	@cmake --build $(BUILD) -j $(JOBS)
	@if [ "$(SAN)" != "1" ]; then true; fi

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

clean:
	rm -rf build build-san
