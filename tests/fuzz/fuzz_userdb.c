/*
 * fuzz_userdb - the user-file parser (userdb_parse) on arbitrary bytes.
 *
 * Parsing only: no Argon2, no files. Invariants checked: a failed parse
 * leaves the store as it was; an accepted file formats back to text that
 * parses again to the same accounts.
 */
#include "auth/userdb.h"
#include "core/buf.h"
#include "core/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct userdb db, again;
	char err[512];
	if (userdb_init(&db, "fuzz") < 0 || userdb_init(&again, "fuzz") < 0)
		panic("userdb_init");
	if (userdb_parse(&db, (const char *)data, size, "fuzz", err, sizeof err) == 0) {
		struct buf b;
		buf_init(&b, USERDB_FILE_MAX);
		if (userdb_format(&db, &b) < 0)
			panic("userdb_format failed on a parsed store");
		if (userdb_parse(&again, b.data, b.len, "fuzz", err, sizeof err) < 0)
			panic("formatted store does not parse: %s", err);
		if (again.count != db.count)
			panic("round trip changed the count");
		for (size_t i = 0; i < db.count; i++) {
			const struct userdb_entry *e = userdb_find(&again, db.users[i].name);
			if (!e || strcmp(e->hash, db.users[i].hash) != 0 ||
			    e->flags != db.users[i].flags)
				panic("round trip changed %s", db.users[i].name);
		}
		/* a second, failing parse must not touch what is there */
		size_t before = again.count;
		if (userdb_parse(&again, "x\n", 2, "fuzz", err, sizeof err) == 0 ||
		    again.count != before)
			panic("failed parse changed the store");
		buf_free(&b);
	} else if (db.count != 0) {
		panic("failed parse left accounts behind");
	}
	/* the name checker on the raw bytes, bounded output */
	char out[USERDB_NAME_MAX + 1];
	(void)userdb_name_normalize((const char *)data, size, out, sizeof out, err, sizeof err);
	userdb_free(&db);
	userdb_free(&again);
	return 0;
}
