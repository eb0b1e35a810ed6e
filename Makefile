# relayguard build.
#
#   make            release build: build/rel/relayguard
#   make run        install missing packages, build, run the gateway (serve) in the foreground
#   make demo       install missing packages, build, demonstrate check and monitor
#   make check      install missing packages, build with ASan+UBSan, run every test
#   make fuzz       build libFuzzer targets (clang) and run each for FUZZ_SECONDS
#   make bench      run every benchmark under bench/
#   make install    install under PREFIX (default /usr/local) into DESTDIR (docs/install.md)
#   make deb        build a Debian package into build/deb/ (docs/install.md)
#
# Sources are found by wildcard: a new module is a new .c file under src/LAYER/,
# a new unit test a tests/unit/test_NAME.c, a new fuzz target tests/fuzz/fuzz_NAME.c.

MODE ?= rel
BUILD := build/$(MODE)

PKGS := libevent libevent_openssl libcares libsodium jansson inih libmicrohttpd hiredis openssl zlib
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -llmdb -lldap -llber -lm
# canonical identities: IDN U-labels to A-labels (src/policy/canon.c)
PKG_LIBS += -lidn2

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc $(WARN) -g -MMD -MP

ifeq ($(MODE),asan)
CC ?= cc
MODE_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
MODE_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(MODE),fuzz)
CC := clang
MODE_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -DRG_FUZZING
MODE_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(MODE),tsan)
# ThreadSanitizer for the modules with threads (core/workq and its users):
# make MODE=tsan build/tsan/tests/test_workq (not part of make check).
CC ?= cc
MODE_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=thread
MODE_LDFLAGS := -fsanitize=thread
else
# -O3: the log and policy hot paths (logscan, replay) run 5-8% faster than at
# -O2 on bench/logscan.sh; nothing measured got slower.
MODE_CFLAGS := -O3
MODE_LDFLAGS :=
endif

CFLAGS += $(BASE_CFLAGS) $(MODE_CFLAGS) $(PKG_CFLAGS)
LDFLAGS += $(MODE_LDFLAGS)

LIB_SRC := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
# CLI objects other than main, linkable into unit tests of the subcommands.
CLI_LIB_OBJ := $(filter-out $(BUILD)/src/cli/main.o,$(CLI_OBJ))

.PHONY: all run demo check fuzz fuzz-smoke bench soak clean bootstrap bootstrap-run unit format banned

all: $(BUILD)/relayguard

bootstrap:
	@./scripts/bootstrap check

bootstrap-run:
	@./scripts/bootstrap run

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/librelayguard.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/relayguard: $(CLI_OBJ) $(BUILD)/librelayguard.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/librelayguard.a $(PKG_LIBS)

# libspf2 is a test-only peer: test_spf compares src/smtp/spf.c with it (docs/inbound.md).
$(BUILD)/tests/test_spf: TEST_LIBS := -lspf2

$(BUILD)/tests/%: tests/unit/%.c $(CLI_LIB_OBJ) $(BUILD)/librelayguard.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(CLI_LIB_OBJ) $(BUILD)/librelayguard.a $(PKG_LIBS) $(TEST_LIBS) -lcmocka

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/librelayguard.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(BUILD)/librelayguard.a $(PKG_LIBS)

# The catalogue is embedded with .incbin; -MMD cannot see that dependency.
$(BUILD)/src/dnsbl/builtin.o: data/dnsbl.conf

unit: $(UNIT_BIN)

# The gateway on its embedded defaults, in the foreground (Ctrl-C stops it).
run: bootstrap-run
	@$(MAKE) --no-print-directory MODE=rel all
	@RELAYGUARD_CONFIG= exec build/rel/relayguard serve --foreground

# check and monitor against rbldnsd on loopback with demonstration zones.
demo: bootstrap
	@$(MAKE) --no-print-directory MODE=rel all
	@./scripts/run-demo

# The builds of check use every core (make check is run without -j by CI).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
check: bootstrap
	@$(MAKE) --no-print-directory -j$(JOBS) MODE=asan all unit
	@$(MAKE) --no-print-directory -j$(JOBS) MODE=fuzz fuzz-build
	@/usr/bin/python3 scripts/run-tests --build build/asan --fuzz-build build/fuzz

fuzz-build: $(FUZZ_BIN)

FUZZ_SECONDS ?= 60
fuzz: bootstrap
	@$(MAKE) --no-print-directory MODE=fuzz fuzz-build
	@./scripts/run-fuzz build/fuzz $(FUZZ_SECONDS)

bench: bootstrap
	@$(MAKE) --no-print-directory MODE=rel all
	@for b in bench/*.sh; do echo "== $$b"; $$b || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# The common-password list is embedded with .incbin; -MMD cannot see that dependency.
$(BUILD)/src/auth/pwlist.o: data/common-passwords.txt

# The bounce rules are embedded with .incbin; -MMD cannot see that dependency.
$(BUILD)/src/forensics/brules.o: data/bounce-rules.conf

# The version (relayguard --version, the SMTP banner, relayguard_build_info): a
# VERSION file (tarballs, make deb), else git describe of the checkout, else
# "unknown". Written to a header only when it changes, so only version.o rebuilds.
RG_VERSION := $(shell cat VERSION 2>/dev/null || git describe --always --dirty 2>/dev/null || echo unknown)
VERSION_H := $(BUILD)/gen/rg_version.h
$(VERSION_H): FORCE
	@mkdir -p $(dir $@)
	@v='#define RG_VERSION "$(RG_VERSION)"'; \
	[ -f $@ ] && [ "$$(cat $@)" = "$$v" ] || echo "$$v" >$@
$(BUILD)/src/core/version.o: $(VERSION_H)
$(BUILD)/src/core/version.o: CFLAGS += -I$(BUILD)/gen
.PHONY: FORCE
FORCE:

# ---- make install, make deb (dist/, debian/; README "Install it") ----
# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, man pages, catalogue,
# systemd unit, sysusers.d and tmpfiles.d entries, logrotate file, and the
# example configuration as SYSCONFDIR/relayguard/relayguard.conf where none exists.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share/relayguard
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d
CONFMODE ?= 0640
MAN_OUT ?= $(BUILD)/man
DIST_OUT ?= $(BUILD)/dist

.PHONY: man install deb
man: $(MAN_OUT)/relayguard.8 $(MAN_OUT)/relayguard.conf.5

$(MAN_OUT)/relayguard.8 $(MAN_OUT)/relayguard.conf.5 &: $(BUILD)/relayguard scripts/gen-man \
		$(wildcard dist/man/*.in) src/cli/main.c src/gateway/gwconf.c src/policy/config.c \
		src/cli/cli_monitor.c
	/usr/bin/python3 scripts/gen-man --bin $(BUILD)/relayguard --out $(MAN_OUT)

# The example with the installed paths instead of ./var.
# FORCE: they depend on PREFIX and SYSCONFDIR too.
$(DIST_OUT)/relayguard.conf: docs/examples/relayguard.conf FORCE
	@mkdir -p $(dir $@)
	sed -e 's|^state_dir = ./var$$|state_dir = /var/lib/relayguard|' \
	    -e 's|^spool_dir = ./var/spool$$|spool_dir = /var/spool/relayguard|' \
	    -e 's|^users = ./var/users$$|users = /var/lib/relayguard/users|' \
	    -e 's|docs/examples/relayguard.conf|$(SYSCONFDIR)/relayguard/relayguard.conf|' $< >$@

$(DIST_OUT)/relayguard.service: dist/relayguard.service.in FORCE
	@mkdir -p $(dir $@)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< >$@

install: all man $(DIST_OUT)/relayguard.conf $(DIST_OUT)/relayguard.service
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(LOGROTATEDIR) $(DESTDIR)$(SYSCONFDIR)/relayguard
	install -m 0755 $(BUILD)/relayguard $(DESTDIR)$(SBINDIR)/relayguard
	install -m 0644 $(MAN_OUT)/relayguard.8 $(DESTDIR)$(MANDIR)/man8/relayguard.8
	install -m 0644 $(MAN_OUT)/relayguard.conf.5 $(DESTDIR)$(MANDIR)/man5/relayguard.conf.5
	install -m 0644 data/dnsbl.conf $(DESTDIR)$(DATADIR)/dnsbl.conf
	install -m 0644 $(DIST_OUT)/relayguard.service $(DESTDIR)$(UNITDIR)/relayguard.service
	install -m 0644 dist/relayguard.sysusers $(DESTDIR)$(SYSUSERSDIR)/relayguard.conf
	install -m 0644 dist/relayguard.tmpfiles $(DESTDIR)$(TMPFILESDIR)/relayguard.conf
	install -m 0644 dist/relayguard.logrotate $(DESTDIR)$(LOGROTATEDIR)/relayguard
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/relayguard/relayguard.conf ]; then \
		echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/relayguard/relayguard.conf"; \
	else \
		install -m $(CONFMODE) $(DIST_OUT)/relayguard.conf $(DESTDIR)$(SYSCONFDIR)/relayguard/relayguard.conf; \
	fi

# make deb: a .deb (debhelper) built from a copy of the tree under build/deb/,
# so nothing is written outside the repository. The copy gets a VERSION file.
DEB_DIR ?= build/deb
deb:
	@rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z --cached --others --exclude-standard | \
			tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C $(DEB_DIR)/src; \
	else \
		tar --exclude=./build --exclude=./var -cf - . | tar -xf - -C $(DEB_DIR)/src; \
	fi
	@echo "$(RG_VERSION)" >$(DEB_DIR)/src/VERSION
	@v=$$(echo "$(RG_VERSION)" | tr -c 'A-Za-z0-9.\n' '.'); \
	sed -i "1s/(\([0-9.]*\))/(\1+git$$v)/" $(DEB_DIR)/src/debian/changelog
	cd $(DEB_DIR)/src && DEB_BUILD_OPTIONS="$${DEB_BUILD_OPTIONS:-parallel=2}" \
		dpkg-buildpackage -b -us -uc -rfakeroot
	@ls $(DEB_DIR)/*.deb
