#!/bin/sh
# replay.sh [MILLIONS]: events per second through the policy engine (memory
# store, one core). Builds bench/replay_bench.c with the Makefile's release
# flags against build/rel/librelayguard.a. The last line is "speedup: X",
# X = events/s divided by the 1,000,000 events/s target (no peer replays raw
# events; see bench/replay_bench.c).
set -eu
cd "$(dirname "$0")/.."
make --no-print-directory MODE=rel all >/dev/null
mkdir -p build/rel/bench
# The Makefile's BASE_CFLAGS and release MODE_CFLAGS.
cc -std=c11 -D_GNU_SOURCE -Isrc -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes -g -O3 \
	-o build/rel/bench/replay_bench bench/replay_bench.c build/rel/librelayguard.a \
	$(pkg-config --libs libevent libevent_openssl libcares libsodium jansson inih \
		libmicrohttpd hiredis openssl zlib 2>/dev/null) -llmdb -lidn2 -lm -lpthread
if command -v taskset >/dev/null 2>&1; then
	exec taskset -c 0 build/rel/bench/replay_bench "${1:-2}"
fi
exec build/rel/bench/replay_bench "${1:-2}"
