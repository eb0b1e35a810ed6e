# relayguard build.
#
#   make            release build: build/rel/relayguard
#   make run        install missing packages, build, run the gateway (serve) in the foreground
#   make demo       install missing packages, build, demonstrate check and monitor
#   make check      install missing packages, build with ASan+UBSan, run every test
#   make fuzz       build libFuzzer targets (clang) and run each for FUZZ_SECONDS
#   make bench      run every benchmark under bench/
#
# Sources are found by wildcard: a new module is a new .c file under src/LAYER/,
# a new unit test a tests/unit/test_NAME.c, a new fuzz target tests/fuzz/fuzz_NAME.c.

MODE ?= rel
BUILD := build/$(MODE)

PKGS := libevent libevent_openssl libcares libsodium jansson inih libmicrohttpd hiredis openssl zlib
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -llmdb -lm

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

check: bootstrap
	@$(MAKE) --no-print-directory MODE=asan all unit
	@$(MAKE) --no-print-directory MODE=fuzz fuzz-build
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
