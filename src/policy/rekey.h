/*
 * rekey - moves blocks stored under an old spelling of an identity
 * ("user:SAM@Corp.Test", "domain:EVIL.example", written before identities
 * were canonical) to their canonical key (canon.h), so a store from an
 * older version reads the same as one written now: the engine runs this
 * when it opens a store (pol_engine_new), before it reads the blocks.
 *
 * Each move is a block_put of the canonical key, a block_del of the old one
 * and two audit records (actor "engine": "unblock" of the old spelling and
 * "block" of the canonical one, with the block's rule, expiry and offences,
 * so `relayguard store verify` rebuilds the same blocks from the trail).
 * When both spellings are blocked they become one block: the one that lasts
 * longer (until lifted beats any expiry), with the larger offence count.
 * A name canon.h refuses is left as it is. The per-identity counters are
 * not moved (the store cannot list them): those under an old spelling stop
 * counting and expire; docs/policy.md "Identities".
 */
#ifndef RG_POLICY_REKEY_H
#define RG_POLICY_REKEY_H

#include "policy/store.h"

/* Moves every non-canonical block of st. The number moved (0: nothing to
 * do), or -1 on a store error (the moves before it stay done). */
long rekey_blocks(struct store *st);

#endif
