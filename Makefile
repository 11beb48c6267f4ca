# uiommufd build. Plain GNU make; needs only a C compiler, make and libc.
#
#   make                      static and shared library (release)
#   make check                every test, debug invariants on
#   make check SANITIZE=address,undefined | SANITIZE=thread
#   make check VALGRIND=1
#   make run                  build, then run examples/iommufd_demo under
#                             uiommufd-run (the shim answers /dev/iommu)
#   make bench                benchmarks (release build)
#   make CC=clang check
#   make clean

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif
MODE ?= release
SANITIZE ?=
VALGRIND ?=

comma := ,
# V=1 shows full commands.
ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-6s %s\n'
endif
ccname := $(notdir $(firstword $(CC)))
variant := $(ccname)-$(MODE)$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))
B := build/$(variant)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wundef \
	-Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla \
	-Wformat=2 -Wno-format-nonliteral -Wno-missing-field-initializers
CSTD := -std=gnu11 -D_GNU_SOURCE
CFLAGS_BASE := $(CSTD) $(WARN) -g -fPIC -fvisibility=hidden -pthread \
	-I. -Ilib -Iinclude
ifeq ($(MODE),debug)
CFLAGS_BASE += -O1 -DUIOMMUFD_DEBUG=1
else
CFLAGS_BASE += -O2
endif
ifneq ($(SANITIZE),)
CFLAGS_BASE += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
LDFLAGS_SAN := -fsanitize=$(SANITIZE)
endif
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS)
ALL_LDFLAGS = -pthread $(LDFLAGS_SAN) $(LDFLAGS)
# ASSERT_EQ(0, some_u64) is the natural way to write a test.
TEST_CFLAGS = $(ALL_CFLAGS) -Itests -Wno-sign-compare

LIB_SRCS := $(wildcard lib/*/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)

HARNESS_SRCS := tests/harness/test.c
HARNESS_OBJS := $(HARNESS_SRCS:%.c=$(B)/%.o)
# End-to-end tests link no library: they run under uiommufd-run.
HARNESS_E2E_OBJS := $(B)/tests/harness/test-e2e.o
TEST_SRCS := $(wildcard tests/*/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRCS))

BENCH_COMMON_SRCS := bench/bench.c
BENCH_COMMON_OBJS := $(BENCH_COMMON_SRCS:%.c=$(B)/%.o)
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRCS))

STATIC_LIB := $(B)/libuiommufd.a
SHARED_LIB := $(B)/libuiommufd.so.0

# The preload shim carries its own copy of the library.
SHIM_SRCS := $(wildcard preload/*.c)
SHIM_OBJS := $(SHIM_SRCS:%.c=$(B)/%.o)
SHIM_LIB := $(B)/libuiommufd-preload.so
RUN_TOOL := $(B)/uiommufd-run
# Examples use nothing but libc and the uAPI headers.
EXAMPLE_BINS := $(patsubst examples/%.c,$(B)/examples/%,$(wildcard examples/*.c))

.PHONY: all lib check bench clean tests benches check-run bench-run run
.DEFAULT_GOAL := all

# The top-level goals pick a mode and re-enter with it.
all:
	@$(MAKE) --no-print-directory MODE=release lib
check:
	@$(MAKE) --no-print-directory MODE=debug check-run
bench:
	@$(MAKE) --no-print-directory MODE=release bench-run
# The demo, unmodified, under the shim: what /dev/iommu looks like.
run:
	@$(MAKE) --no-print-directory MODE=release lib
	@build/$(ccname)-release/uiommufd-run \
		build/$(ccname)-release/examples/iommufd_demo

lib: $(STATIC_LIB) $(SHARED_LIB) $(SHIM_LIB) $(RUN_TOOL) $(EXAMPLE_BINS)

$(STATIC_LIB): $(LIB_OBJS)
	$(quiet) AR $@
	@rm -f $@
	$(Q)ar rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS) lib/libuiommufd.map
	$(quiet) LD $@
	$(Q)$(CC) -shared -Wl,-soname,libuiommufd.so.0 \
		-Wl,--version-script=lib/libuiommufd.map -Wl,--no-undefined \
		-o $@ $(LIB_OBJS) $(ALL_LDFLAGS)
	$(Q)ln -sf libuiommufd.so.0 $(B)/libuiommufd.so

$(SHIM_LIB): $(SHIM_OBJS) $(LIB_OBJS) preload/shim.map
	$(quiet) LD $@
	$(Q)$(CC) -shared -Wl,--version-script=preload/shim.map \
		-Wl,--no-undefined -o $@ $(SHIM_OBJS) $(LIB_OBJS) \
		$(ALL_LDFLAGS)

$(RUN_TOOL): tools/uiommufd-run.c
	@mkdir -p $(dir $@) $(B)/dep/tools
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -MF $(B)/dep/tools/uiommufd-run.d \
		-o $@ $< $(ALL_LDFLAGS)

$(B)/examples/%: examples/%.c
	@mkdir -p $(dir $@) $(B)/dep/examples
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -MF $(B)/dep/examples/$*.d \
		-o $@ $< $(ALL_LDFLAGS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# Binaries keep their dependency files apart so test dirs hold only tests.
$(B)/tests/%: tests/%.c $(HARNESS_OBJS) $(STATIC_LIB)
	@mkdir -p $(dir $@) $(dir $(B)/dep/$*)
	$(quiet) CC $@
	$(Q)$(CC) $(TEST_CFLAGS) -MMD -MP -MF $(B)/dep/$*.d -o $@ $< $(HARNESS_OBJS) \
		$(STATIC_LIB) $(ALL_LDFLAGS)

$(B)/tests/e2e/%: tests/e2e/%.c $(HARNESS_E2E_OBJS) $(SHIM_LIB) $(RUN_TOOL)
	@mkdir -p $(dir $@) $(B)/dep/e2e
	$(quiet) CC $@
	$(Q)$(CC) $(TEST_CFLAGS) -MMD -MP -MF $(B)/dep/e2e/$*.d -o $@ $< \
		$(HARNESS_E2E_OBJS) $(ALL_LDFLAGS)

$(B)/tests/harness/test-e2e.o: tests/harness/test.c
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(TEST_CFLAGS) -DTEST_NO_LIBRARY -MMD -MP -c -o $@ $<

$(B)/tests/harness/harness_demo: tests/harness/harness_demo.c \
		$(HARNESS_OBJS) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(TEST_CFLAGS) -MMD -MP -MF $(B)/dep/harness_demo.d \
		-o $@ $< $(HARNESS_OBJS) $(STATIC_LIB) $(ALL_LDFLAGS)

$(B)/tests/harness/%.o: tests/harness/%.c
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(TEST_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/bench/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(TEST_CFLAGS) -Ibench -MMD -MP -c -o $@ $<

$(B)/bench/bench_%: bench/bench_%.c $(BENCH_COMMON_OBJS) $(STATIC_LIB)
	@mkdir -p $(dir $@) $(B)/dep/bench
	$(quiet) CC $@
	$(Q)$(CC) $(TEST_CFLAGS) -Ibench -MMD -MP -MF $(B)/dep/bench/bench_$*.d -o $@ $< \
		$(BENCH_COMMON_OBJS) $(STATIC_LIB) $(ALL_LDFLAGS) -lm

tests: $(TEST_BINS) $(SHARED_LIB) $(B)/tests/harness/harness_demo \
	$(SHIM_LIB) $(RUN_TOOL) $(EXAMPLE_BINS)
benches: $(BENCH_BINS)

check-run: tests
	@VALGRIND=$(VALGRIND) SANITIZE=$(SANITIZE) BUILD=$(B) \
		sh tests/run-tests.sh $(TEST_BINS) \
		tests/harness/check-harness.sh tests/abi/check-exports.sh \
		tests/e2e/check-run.sh

bench-run: benches
	@sh bench/run-benches.sh $(BENCH_BINS)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
.PRECIOUS: $(B)/%.o $(B)/tests/harness/%.o $(B)/bench/%.o
