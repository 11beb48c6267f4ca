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
#   make install              install the release build under PREFIX
#                             (/usr/local); DESTDIR, LIBDIR, BINDIR,
#                             INCLUDEDIR, MANDIR as usual
#   make uninstall            remove what make install put there
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

# uiommufd-run parses its options with the library's own parser.
$(RUN_TOOL): tools/uiommufd-run.c $(STATIC_LIB)
	@mkdir -p $(dir $@) $(B)/dep/tools
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) $(RUN_TOOL_DEFS) \
		-MMD -MP -MF $(B)/dep/tools/uiommufd-run.d \
		-o $@ $< $(STATIC_LIB) $(ALL_LDFLAGS)

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
		tests/e2e/check-run.sh tests/e2e/check-release.sh \
		tests/e2e/check-trace.sh tests/e2e/check-hwpt.sh \
		tests/e2e/check-fault-trace.sh \
		tests/e2e/check-viommu.sh \
		tests/install/check-install.sh

bench-run: benches
	@sh bench/run-benches.sh $(BENCH_BINS)

clean:
	rm -rf build

# ---- install and uninstall ----
#
# make install [DESTDIR=...] [PREFIX=/usr/local] [LIBDIR=...] [BINDIR=...]
#              [INCLUDEDIR=...] [MANDIR=...]
# installs the release build, which is what `make` builds (files that are
# missing or stale are built first; nothing up to date is rebuilt):
#
#   $(LIBDIR)/libuiommufd.a
#   $(LIBDIR)/libuiommufd.so.$(VERSION), libuiommufd.so.0 and
#             libuiommufd.so, symlinks to it (the SONAME is libuiommufd.so.0)
#   $(LIBDIR)/pkgconfig/uiommufd.pc
#   $(LIBDIR)/uiommufd/libuiommufd-preload.so   the shim, private
#   $(BINDIR)/uiommufd-run
#   $(INCLUDEDIR)/uiommufd/*.h
#   $(MANDIR)/man1/, man3/, man7/               section 3 pages get a .so
#             link page for every other name on their NAME line
#
# uiommufd-run looks for the shim at its own location plus SHIM_RELDIR
# (BINDIR to LIBDIR/uiommufd), so the tree also works under DESTDIR or
# moved as a whole. A LIBDIR or BINDIR that changes SHIM_RELDIR rebuilds
# uiommufd-run, and only it. INSTALL_MODE=debug installs the debug build
# instead (make check's install check). make uninstall removes exactly
# these files, and the private folders once empty.

# The shared library's full version; its major must stay the SONAME's 0.
VERSION := 0.2.0
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
BINDIR ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SHIMDIR = $(LIBDIR)/uiommufd
INSTALL_MODE ?= release
INSTALL ?= install

SHIM_RELDIR := $(shell realpath -m -s --relative-to='$(BINDIR)' '$(SHIMDIR)')
ifeq ($(SHIM_RELDIR),)
$(error cannot compute the path from BINDIR to LIBDIR/uiommufd (GNU realpath))
endif
RUN_TOOL_DEFS = -DUIOMMUFD_SHIM_RELDIR='"$(SHIM_RELDIR)"'
# The value uiommufd-run was built with: a new one rebuilds it.
SHIM_RELDIR_STAMP := $(B)/shim-reldir
$(RUN_TOOL): $(SHIM_RELDIR_STAMP)
$(SHIM_RELDIR_STAMP): FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' '$(SHIM_RELDIR)' | cmp -s - $@ 2>/dev/null || \
		printf '%s\n' '$(SHIM_RELDIR)' >$@

HEADERS := $(wildcard include/uiommufd/*.h)
MAN_PAGES := $(wildcard man/*.[1-8])
# "link:page" for every name on a section 3 page's NAME line but its own.
MAN3_LINKS = $(shell for p in man/*.3; do [ -e "$$p" ] || continue; \
	b=$$(basename "$$p"); \
	for n in $$(sed -n '/^\.SH NAME/{n;s/ *\\-.*//;s/,/ /g;p;q;}' "$$p"); do \
		[ "$$n.3" = "$$b" ] || echo "$$n.3:$$b"; \
	done; done)
# pkg-config paths stay relative to ${prefix} where they can.
pc_path = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

.PHONY: install install-files uninstall FORCE
FORCE:

install:
	@$(MAKE) --no-print-directory MODE=$(INSTALL_MODE) install-files

install-files: $(STATIC_LIB) $(SHARED_LIB) $(SHIM_LIB) $(RUN_TOOL)
	$(quiet) INSTALL $(DESTDIR)$(PREFIX)
	$(Q)$(INSTALL) -d -m 755 '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(SHIMDIR)' \
		'$(DESTDIR)$(PKGCONFIGDIR)' '$(DESTDIR)$(BINDIR)' \
		'$(DESTDIR)$(INCLUDEDIR)/uiommufd'
	$(Q)$(INSTALL) -m 644 $(STATIC_LIB) '$(DESTDIR)$(LIBDIR)/libuiommufd.a'
	$(Q)$(INSTALL) -m 755 $(SHARED_LIB) \
		'$(DESTDIR)$(LIBDIR)/libuiommufd.so.$(VERSION)'
	$(Q)ln -sfn libuiommufd.so.$(VERSION) '$(DESTDIR)$(LIBDIR)/libuiommufd.so.0'
	$(Q)ln -sfn libuiommufd.so.0 '$(DESTDIR)$(LIBDIR)/libuiommufd.so'
	$(Q)pc=$$(sed -e 's|@PREFIX@|$(PREFIX)|' \
		-e 's|@LIBDIR@|$(call pc_path,$(LIBDIR))|' \
		-e 's|@INCLUDEDIR@|$(call pc_path,$(INCLUDEDIR))|' \
		-e 's|@VERSION@|$(VERSION)|' uiommufd.pc.in) && \
	printf '%s\n' "$$pc" | \
		$(INSTALL) -m 644 /dev/stdin '$(DESTDIR)$(PKGCONFIGDIR)/uiommufd.pc'
	$(Q)$(INSTALL) -m 755 $(SHIM_LIB) \
		'$(DESTDIR)$(SHIMDIR)/libuiommufd-preload.so'
	$(Q)$(INSTALL) -m 755 $(RUN_TOOL) '$(DESTDIR)$(BINDIR)/uiommufd-run'
	$(Q)$(INSTALL) -m 644 $(HEADERS) '$(DESTDIR)$(INCLUDEDIR)/uiommufd/'
	$(Q)for p in $(MAN_PAGES); do \
		d='$(DESTDIR)$(MANDIR)'/man"$${p##*.}"; \
		$(INSTALL) -d -m 755 "$$d" && \
		$(INSTALL) -m 644 "$$p" "$$d/" || exit 1; \
	done
	$(Q)for l in $(MAN3_LINKS); do \
		printf '.so man3/%s\n' "$${l#*:}" | $(INSTALL) -m 644 /dev/stdin \
			'$(DESTDIR)$(MANDIR)'/man3/"$${l%%:*}" || exit 1; \
	done
	$(Q)if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ] && \
	       command -v ldconfig >/dev/null 2>&1; then ldconfig; fi

uninstall:
	$(quiet) RM $(DESTDIR)$(PREFIX)
	$(Q)rm -f '$(DESTDIR)$(LIBDIR)/libuiommufd.a' \
		'$(DESTDIR)$(LIBDIR)/libuiommufd.so.$(VERSION)' \
		'$(DESTDIR)$(LIBDIR)/libuiommufd.so.0' \
		'$(DESTDIR)$(LIBDIR)/libuiommufd.so' \
		'$(DESTDIR)$(PKGCONFIGDIR)/uiommufd.pc' \
		'$(DESTDIR)$(SHIMDIR)/libuiommufd-preload.so' \
		'$(DESTDIR)$(BINDIR)/uiommufd-run'
	$(Q)for h in $(notdir $(HEADERS)); do \
		rm -f '$(DESTDIR)$(INCLUDEDIR)/uiommufd/'"$$h"; done
	$(Q)for p in $(MAN_PAGES); do \
		rm -f '$(DESTDIR)$(MANDIR)'/man"$${p##*.}/$${p##*/}"; done
	$(Q)for l in $(MAN3_LINKS); do \
		rm -f '$(DESTDIR)$(MANDIR)'/man3/"$${l%%:*}"; done
	$(Q)for d in '$(DESTDIR)$(SHIMDIR)' '$(DESTDIR)$(INCLUDEDIR)/uiommufd'; do \
		[ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d"; done
	$(Q)if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ] && \
	       command -v ldconfig >/dev/null 2>&1; then ldconfig; fi

-include $(shell find build -name '*.d' 2>/dev/null)
.PRECIOUS: $(B)/%.o $(B)/tests/harness/%.o $(B)/bench/%.o
