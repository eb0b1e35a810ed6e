#!/bin/sh
# queue.sh [N] [SESSIONS]: messages per second into the durable queue with
# fsync on, 2 KB messages from 20 concurrent sessions (bench/queue_bench.c):
# group commit as shipped, then one fdatasync per message (the naive way),
# then a file per message (temp, fsync, rename, fsync dir), in one run on
# the disk under build/ (group and per-msg alternate, three rounds, medians).
# The last line is "speedup: X", group over per-msg.
set -eu
cd "$(dirname "$0")/.."
make --no-print-directory MODE=rel all >/dev/null
mkdir -p build/rel/bench
cc -std=c11 -D_GNU_SOURCE -Isrc -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes -g -O2 \
	-o build/rel/bench/queue_bench bench/queue_bench.c build/rel/librelayguard.a \
	$(pkg-config --libs libevent libevent_openssl libcares libsodium jansson inih \
		libmicrohttpd hiredis openssl zlib 2>/dev/null) -llmdb -lidn2 -lm -lpthread
dir=$(mktemp -d build/rel/bench/spool.XXXXXX)
trap 'rm -rf "$dir"' EXIT
build/rel/bench/queue_bench "$dir" "${1:-4000}" "${2:-20}"
