# SVGNet: every target that runs something depends on `setup`, so each works alone on a fresh machine.
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev liblapacke-dev pkg-config libpng-dev libgif-dev zlib1g-dev libopenmpi-dev openmpi-bin \
                libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
DEMO_OUT ?= demo-out

.PHONY: setup build test bench demo results fuzz format lint clean

setup:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: setup
	$(SWIFT) build -c release

# The suites are XCTest; Swift Testing is off so the run does not close on its "0 tests" summary.
test: setup
	$(SWIFT) test --disable-swift-testing

bench: setup
	$(SWIFT) run -c release svgnet-bench $(BENCH_ARGS)

demo: setup
	$(SWIFT) run -c release svgnet demo --out $(DEMO_OUT)

# The Stochastic Moving MNIST study of Docs/RESULTS.md (hours; resumable). QUICK=1: a minutes-long smoke run.
results: setup
	$(SWIFT) build -c release --product svgnet
	QUICK=$(QUICK) bash Scripts/results.sh

# libFuzzer + AddressSanitizer over every parser of outside bytes (Fuzz/), FUZZ_TIME seconds each (default 60).
fuzz: setup
	FUZZ_TIME=$(FUZZ_TIME) TARGETS="$(TARGETS)" bash Scripts/fuzz.sh

# swift-format (part of the Swift toolchain) with the repository's .swift-format: `format` rewrites in place,
# `lint` reports what `format` would change and fails on it (CI runs it).
FORMAT_PATHS := Sources Tests Benchmarks Fuzz Package.swift
format:
	$(SWIFT) format -i -r --parallel $(FORMAT_PATHS)

lint:
	$(SWIFT) format lint --strict -r --parallel $(FORMAT_PATHS)

clean:
	rm -rf .build .build-fuzz
