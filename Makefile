# Thin wrapper: the build is meson's. `make demo` and `make test` install what is missing,
# build, then run. Run as root (apt, network namespaces, hugepages).
BUILD_DIR ?= build
RELEASE := $(BUILD_DIR)/release
ASAN := $(BUILD_DIR)/asan
FUZZ := $(BUILD_DIR)/fuzz
PACKAGES := $(shell sed -e 's/\#.*//' board/packages.txt)
SUITES := --suite unit --suite integration --suite e2e

.PHONY: all deps build build-asan build-fuzz test demo bench clean

all: build

deps:
	@[ "$$(id -u)" = 0 ] || { echo "make: run as root (apt-get, network namespaces, hugepages)" >&2; exit 1; }
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing" $$missing; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: all $(words $(PACKAGES)) packages present"; fi

build: deps
	@[ -f $(RELEASE)/build.ninja ] || meson setup $(RELEASE) --buildtype=release -Db_lto=true
	ninja -C $(RELEASE)

# Sanitizers need the debug runtime's symbols: no LTO, -Db_lundef=false for ASan's shared runtime.
build-asan: deps
	@[ -f $(ASAN)/build.ninja ] || meson setup $(ASAN) --buildtype=debugoptimized \
	    -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(ASAN)

# libFuzzer targets only (tests/fuzz/README.md): clang, sanitizers, coverage instrumentation.
build-fuzz: deps
	@[ -f $(FUZZ)/build.ninja ] || CC=clang CXX=clang++ meson setup $(FUZZ) -Dfuzz=true \
	    -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized
	ninja -C $(FUZZ)

# Runs every suite on the release and the sanitizer build, a minute of fuzzing per fuzz
# target, then prints one closing line.
test: build build-asan build-fuzz
	@status=0; \
	meson test -C $(RELEASE) $(SUITES) --print-errorlogs || status=1; \
	meson test -C $(ASAN) $(SUITES) --print-errorlogs || status=1; \
	meson test -C $(FUZZ) --suite fuzz --print-errorlogs || status=1; \
	/usr/bin/python3 tests/summarize.py $(RELEASE) $(ASAN) $(FUZZ) || status=1; \
	exit $$status

demo: build
	board/demo/demo.sh $(RELEASE)/dataplane/sentinel

# Figures only (JSON on stdout); never part of `make test`.
bench: build
	meson test -C $(RELEASE) --benchmark --verbose

clean:
	rm -rf $(BUILD_DIR)
