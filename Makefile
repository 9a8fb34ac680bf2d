# toxwire: the two commands of the README, and the pieces they are made of.
#   make demo   install what is missing, build, run a small local network
#   make check  install what is missing, build, run every test
.PHONY: all deps build build-asan build-fuzz check demo bench clean

all: build

deps:
	@scripts/install-deps

build: deps
	@[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
	@ninja -C build >/dev/null

# The tests run against this one: AddressSanitizer + UndefinedBehaviorSanitizer.
build-asan: deps
	@[ -f build-asan/build.ninja ] || meson setup build-asan --buildtype=debug -Doptimization=1 \
	  -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	@ninja -C build-asan >/dev/null

# libFuzzer targets need clang.
build-fuzz: deps
	@[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz --buildtype=debug \
	  -Doptimization=1 -Dfuzz=true -Dtests=disabled >/dev/null
	@ninja -C build-fuzz >/dev/null

check: build build-asan build-fuzz
	@scripts/run-checks

demo: build
	@scripts/demo

bench: build
	@bench/dht-bootstrap

clean:
	rm -rf build build-asan build-fuzz
