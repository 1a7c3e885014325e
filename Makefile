# node-api: the tutorial's HTTP API service in C.
#
#   make            build build/node-api
#   make run        build and run it on http://localhost:3000
#   make test       format check, unit tests, integration tests, deploy artifact
#                   checks, the deploy script against moto, the container image
#   make SANITIZE=address,undefined test
#                   unit and integration tests against an ASan+UBSan build (in build-san/)
#   make SANITIZE=thread test
#                   the same against a ThreadSanitizer build (in build-tsan/)
#   make image      build the container image (podman; bases made locally if missing)
#   make bench      node-api beside Express, Fastify and nginx (about 50 min; QUICK=1: 6 min)
#   make fuzz       each libFuzzer target for FUZZ_SECONDS (60); make test runs them 20 s each
#   make soak       the long reliability runs (drain vs Express, a million requests)
#   make deps       install missing Debian packages (run and test do it)
#   make format     reformat the sources

VERSION := 1.0.0
# The revision goes into --version; the image build passes it in (no .git there).
GIT_SHA ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKGS := libmicrohttpd libcjson libbson-1.0 libpq
PYTHON ?= python3
SANITIZE ?=
# ASan and TSan cannot share objects: each sanitizer has its own tree.
BUILD ?= build$(if $(SANITIZE),$(if $(findstring thread,$(SANITIZE)),-tsan,-san))

WARNINGS := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wvla -Wformat=2
ifeq ($(CI),true)
WERROR ?= 1
endif
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif

CFLAGS ?= -O2 -g
ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

pkg_cflags = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
pkg_libs = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ALL_CPPFLAGS = -Iinclude -I$(BUILD) -D_GNU_SOURCE -DNA_VERSION='"$(VERSION)"' $(CPPFLAGS)
ALL_CFLAGS = -std=c11 $(WARNINGS) $(CFLAGS) $(SANFLAGS) $(pkg_cflags) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS = $(pkg_libs) -lpthread

SRCS := $(wildcard src/*.c)
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(filter-out src/main.c,$(SRCS)))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
FORMAT_FILES := $(wildcard src/*.c src/*.h include/na/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c)

.PHONY: all deps deps-build run test unit integration deploy-test container-test image bench \
        fuzz fuzz-build soak format format-check clean print-version

all: $(BUILD)/node-api

deps:
	@scripts/deps.sh test

deps-build:
	@scripts/deps.sh build

# The git revision goes into a header that changes only when it does.
$(BUILD)/na_git.h: FORCE | $(BUILD)/obj
	@line='#define NA_GIT_SHA "$(GIT_SHA)"'; \
	 [ "$$(cat $@ 2>/dev/null)" = "$$line" ] || echo "$$line" > $@
FORCE:

$(BUILD)/obj $(BUILD)/tests:
	@mkdir -p $@

$(BUILD)/obj/main.o: $(BUILD)/na_git.h

$(BUILD)/obj/%.o: src/%.c | deps-build $(BUILD)/obj
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/node-api: $(BUILD)/obj/main.o $(LIB_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(BUILD)/tests
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJS) $(ALL_LDFLAGS) \
	    $(LIBS) $$(pkg-config --libs cmocka)

$(BUILD)/metrics_cost: scripts/bench/metrics_cost.c $(LIB_OBJS)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJS) $(ALL_LDFLAGS) $(LIBS)

# The overload section's open-loop load generator (wrk is closed-loop).
$(BUILD)/openloop: scripts/bench/openloop.c | $(BUILD)/obj
	$(CC) -std=c11 $(WARNINGS) -O2 -o $@ $<

run: deps-build $(BUILD)/node-api
	./$(BUILD)/node-api

# Sanitizer runs stop at the first report, with a stack.
export ASAN_OPTIONS ?= abort_on_error=0:detect_leaks=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
# Races are reported and the process goes on; the exit status and the harness catch them.
export TSAN_OPTIONS ?= halt_on_error=0:second_deadlock_stack=1:exitcode=66

# The deploy and container tests do not involve the local binary: the
# sanitized run leaves them out.
test: deps
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
ifeq ($(SANITIZE),)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20
	@$(MAKE) --no-print-directory deploy-test
	@$(MAKE) --no-print-directory container-test
endif

# UNIT_RUNNER runs each (qemu-aarch64-static for a cross-compiled build: the image's unit stage).
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t$(if $(UNIT_RUNNER), (under $(UNIT_RUNNER)))"; \
	    $(UNIT_RUNNER) $$t; done

# Tests of memory bounds skip a sanitized binary: ASan's own memory is outside the plan.
integration: $(BUILD)/node-api
	NODE_API_BIN=$(abspath $(BUILD)/node-api) NODE_API_SANITIZED=$(SANITIZE) \
	    $(PYTHON) -m unittest discover \
	    -s tests/integration -p 'test_*.py' -v

# The deploy tools' interpreter (scripts/deploy-env.sh), with its commands first on PATH.
deploy-test:
	@py=$$(scripts/deploy-env.sh) && export PATH="$$(dirname "$$py"):$$PATH" && \
	 "$$py" scripts/check_deploy.py && \
	 "$$py" -m unittest discover -s tests/deploy -p 'test_*.py' -v

container-test:
	$(PYTHON) -m unittest discover -s tests/container -p 'test_*.py' -v

image:
	scripts/image.sh

# Not part of `make test`: timings do not belong in tests. BENCH_ARGS adds options.
bench: all $(BUILD)/metrics_cost $(BUILD)/openloop
	@scripts/deps.sh bench
	$(PYTHON) scripts/bench.py $(if $(QUICK),--quick) $(BENCH_ARGS)

# Fuzz targets: clang's libFuzzer with ASan and UBSan, objects of their own.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJS := $(patsubst src/%.c,build-fuzz/obj/%.o,$(filter-out src/main.c,$(SRCS)))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

build-fuzz/obj/%.o: src/%.c | deps-build
	@mkdir -p $(dir $@)
	clang $(ALL_CPPFLAGS) -std=c11 $(WARNINGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link \
	    $(pkg_cflags) -MMD -MP -c $< -o $@

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	clang $(ALL_CPPFLAGS) -std=c11 $(WARNINGS) $(FUZZ_FLAGS) -fsanitize=fuzzer $(pkg_cflags) \
	    -o $@ $< $(FUZZ_OBJS) $(LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# Long reliability runs, figures for the README: not part of `make test`.
soak: all
	@scripts/deps.sh bench
	$(PYTHON) scripts/soak.py $(SOAK_ARGS)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: ok"

clean:
	rm -rf build build-san build-tsan build-fuzz

print-version:
	@echo $(VERSION)

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d build-fuzz/obj/*.d)
