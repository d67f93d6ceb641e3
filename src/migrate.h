/* migrate — applies the numbered SQL migrations at start.
 *
 * What it does: makes sure `schema_migrations (version INT PRIMARY KEY,
 * name TEXT, applied_at TIMESTAMPTZ)` exists, reads which versions are
 * applied, and applies each missing one in ascending order, each in its own
 * transaction together with its schema_migrations row (one simple-protocol
 * script: BEGIN; file; INSERT row; COMMIT). A failing migration is rolled
 * back, nothing after it runs, and the error names the file. A second start
 * applies nothing. Two instances migrating at once cannot both apply one
 * version: the second INSERT of the same version fails and rolls back.
 *
 * The files sql/NNN_name.sql are embedded at build time by sql/embed.sh
 * into migrate_embedded[] (the scratch image has no sql/ directory). */
#ifndef AGORA_MIGRATE_H
#define AGORA_MIGRATE_H

#include <stddef.h>

#include "db.h"

/* Highest version number: the files are numbered with three digits. */
#define MIGRATE_MAX_VERSION 999

struct migration {
	int version;      /* NNN from the file name, 1..999 */
	const char *name; /* "001_initial.sql" */
	const char *sql;  /* the file's text */
};

/* Every sql/NNN_name.sql, in order (generated; see sql/embed.sh). */
extern const struct migration migrate_embedded[];
extern const size_t migrate_embedded_count;

/* applied = how many migrations this run applied; error NULL on success,
 * else "migration NNN_name.sql failed: WHY" (or why the bookkeeping
 * failed). Borrowed. */
typedef void migrate_fn(void *data, int applied, const char *error);

/* Checks a list: versions 1..999 strictly ascending, names NNN_*.sql
 * matching the version and made of [a-z0-9_.]. 0, or -1 with why. */
int migrate_check(const struct migration *list, size_t count, char *why, size_t why_len);

/* Applies the missing migrations of list over db; fn(data) follows once.
 * Returns 0, or -1 at once without a callback when the list is invalid or
 * nothing can be queued (logged). */
int migrate_run(struct db *db, const struct migration *list, size_t count, migrate_fn *fn,
                void *data);

#endif
