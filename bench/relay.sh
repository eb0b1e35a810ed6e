#!/bin/bash
# bench/relay.sh - relay throughput and latency: smtp-source -> X -> smtp-sink,
# X being relayguard and then a private Postfix configured as a relay, one run.
#
# Both queue every message durably before the 250 (relayguard queue_fsync =
# yes, Postfix's fsync of each queue file) and deliver to the same kind of
# smtp-sink, which dumps every message to a file in /dev/shm. smtp-source
# sends 5000 messages of 1 KiB over 20 parallel sessions, one message per
# session; 200 probe messages stamped with their send time run beside the load
# for the latency (sink file time minus stamp). Prints for each system the
# messages delivered, msg/s (all messages / first connection to last message
# at the sink), latency p50 and p99, and last "speedup: X" (relayguard msg/s
# over Postfix msg/s). Options go to bench/relay.py (--messages, --sessions,
# --size, --probes, --only relayguard|postfix, --dkim).
#
# DKIM=1 bench/relay.sh: both sides DKIM-sign every message with the same RSA
# 2048 key (relayguard's [dkim]; Postfix with OpenDKIM as a milter, Debian
# package opendkim), as --dkim.
#
# Run as root (Postfix's master and smtp-sink's -u nobody need it). Needs
# postfix, smtp-source and smtp-sink (Debian postfix package) and
# build/rel/relayguard (built here with `make MODE=rel all` if missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RG=$ROOT/build/rel/relayguard
if [ ! -x "$RG" ]; then
	make -C "$ROOT" --no-print-directory MODE=rel all >/dev/null
fi
DKIM_ARG=()
if [ "${DKIM:-0}" = 1 ]; then
	DKIM_ARG=(--dkim)
fi
exec /usr/bin/python3 "$ROOT/bench/relay.py" --binary "$RG" "${DKIM_ARG[@]}" "$@"
