/* migrate.c — see migrate.h. One job object walks the steps below; each db
 * callback records its result and calls migrate_step() (house idiom). */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "mem.h"

/* A whole migration may rewrite tables: give it minutes, not seconds. */
#define MIGRATE_TIMEOUT_MS (5 * 60 * 1000)

enum migrate_state { MIGRATE_CREATE, MIGRATE_READ, MIGRATE_APPLY, MIGRATE_ROLLBACK };

struct migrate {
	struct db *db;
	const struct migration *list;
	size_t count, next; /* next = index of the migration being applied */
	enum migrate_state state;
	migrate_fn *fn;
	void *data;
	int applied;
	int created; /* schema_migrations was missing and has been created */
	unsigned char done[MIGRATE_MAX_VERSION + 1]; /* versions already applied */
	char error[512];
};

static const char migrate_create_sql[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                         " version INT PRIMARY KEY,"
                                         " name TEXT NOT NULL,"
                                         " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";

static const char migrate_read_sql[] = "SELECT version FROM schema_migrations";

static void migrate_step(struct migrate *m);

static void
migrate_finish(struct migrate *m, const char *error)
{
	if (error)
		log_error("migrate", "%s", error);
	else if (m->applied)
		log_info("migrate", "applied %d migration(s)", m->applied);
	else
		log_info("migrate", "schema is up to date");
	m->fn(m->data, m->applied, error);
	mem_free(m);
}

int
migrate_check(const struct migration *list, size_t count, char *why, size_t why_len)
{
	int last = 0;
	for (size_t i = 0; i < count; i++) {
		const struct migration *mg = &list[i];
		char prefix[8];
		snprintf(prefix, sizeof prefix, "%03d_", mg->version);
		size_t len = mg->name ? strlen(mg->name) : 0;
		if (!mg->name || !mg->sql || mg->version < 1 || mg->version > MIGRATE_MAX_VERSION) {
			snprintf(why, why_len, "migration %zu: bad version, name or text", i);
			return -1;
		}
		if (mg->version <= last) {
			snprintf(why, why_len, "migration %s: versions must ascend", mg->name);
			return -1;
		}
		/* the name is pasted into the bookkeeping INSERT: keep it to a
		 * character set that needs no quoting */
		if (len < 9 || strncmp(mg->name, prefix, 4) != 0 ||
		    strcmp(mg->name + len - 4, ".sql") != 0 ||
		    strspn(mg->name, "abcdefghijklmnopqrstuvwxyz0123456789_.") != len) {
			snprintf(why, why_len, "migration %.64s: name must be %03d_[a-z0-9_].sql",
			         mg->name, mg->version);
			return -1;
		}
		last = mg->version;
	}
	return 0;
}

static void
migrate_reply(void *data, const struct db_reply *reply)
{
	struct migrate *m = data;
	switch (m->state) {
	case MIGRATE_CREATE:
		if (reply->error) {
			snprintf(m->error, sizeof m->error, "cannot create schema_migrations: %s",
			         reply->error);
			migrate_finish(m, m->error);
			return;
		}
		m->state = MIGRATE_READ;
		break;
	case MIGRATE_READ:
		if (reply->error && !m->created && strcmp(reply->sqlstate, "42P01") == 0) {
			/* undefined_table: a new database; create the table
			 * and read again */
			m->created = 1;
			m->state = MIGRATE_CREATE;
			break;
		}
		if (reply->error) {
			snprintf(m->error, sizeof m->error, "cannot read schema_migrations: %s",
			         reply->error);
			migrate_finish(m, m->error);
			return;
		}
		for (int r = 0; r < db_rows(reply); r++) {
			const char *v = db_value(reply, r, 0);
			long n = v ? strtol(v, NULL, 10) : 0;
			if (n >= 1 && n <= MIGRATE_MAX_VERSION)
				m->done[n] = 1;
		}
		m->state = MIGRATE_APPLY;
		m->next = 0;
		break;
	case MIGRATE_APPLY:
		if (reply->error) {
			snprintf(m->error, sizeof m->error, "migration %s failed: %s",
			         m->list[m->next].name, reply->error);
			/* the script stopped inside BEGIN: end the failed block */
			m->state = MIGRATE_ROLLBACK;
			break;
		}
		log_info("migrate", "applied %s", m->list[m->next].name);
		m->applied++;
		m->next++;
		break;
	case MIGRATE_ROLLBACK:
		/* whether or not ROLLBACK worked (a lost connection rolls back
		 * on the server too), report the migration's own error */
		migrate_finish(m, m->error);
		return;
	}
	migrate_step(m);
}

static void
migrate_step(struct migrate *m)
{
	int rc = 0;
	switch (m->state) {
	case MIGRATE_CREATE:
		rc = db_query(m->db, migrate_create_sql, 0, NULL, MIGRATE_TIMEOUT_MS, migrate_reply,
		              m);
		break;
	case MIGRATE_READ:
		rc = db_query(m->db, migrate_read_sql, 0, NULL, MIGRATE_TIMEOUT_MS, migrate_reply,
		              m);
		break;
	case MIGRATE_APPLY: {
		while (m->next < m->count && m->done[m->list[m->next].version])
			m->next++;
		if (m->next == m->count) {
			migrate_finish(m, NULL);
			return;
		}
		const struct migration *mg = &m->list[m->next];
		struct buf script;
		buf_init(&script, DB_MAX_QUERY_BYTES - 1);
		/* the newline before ';' ends a trailing "--" comment; the
		 * name was checked by migrate_check, so it needs no quoting */
		rc = buf_printf(&script,
		                "BEGIN;\n%s\n;\nINSERT INTO schema_migrations (version, name, "
		                "applied_at) VALUES (%d, '%s', now());\nCOMMIT;",
		                mg->sql, mg->version, mg->name);
		if (rc == 0)
			rc = db_query_script(m->db, buf_str(&script), MIGRATE_TIMEOUT_MS,
			                     migrate_reply, m);
		buf_free(&script);
		if (rc < 0)
			snprintf(m->error, sizeof m->error, "migration %s: cannot queue it: %s",
			         mg->name, db_error(m->db));
		break;
	}
	case MIGRATE_ROLLBACK:
		rc = db_query_script(m->db, "ROLLBACK", MIGRATE_TIMEOUT_MS, migrate_reply, m);
		break;
	}
	if (rc < 0) {
		if (!m->error[0])
			snprintf(m->error, sizeof m->error, "migrations: cannot queue a query: %s",
			         db_error(m->db));
		migrate_finish(m, m->error);
	}
}

int
migrate_run(struct db *db, const struct migration *list, size_t count, migrate_fn *fn, void *data)
{
	char why[160];
	if (!db || !fn || (count && !list)) {
		log_error("migrate", "invalid arguments");
		return -1;
	}
	if (migrate_check(list, count, why, sizeof why) < 0) {
		log_error("migrate", "%s", why);
		return -1;
	}
	struct migrate *m = mem_calloc(1, sizeof *m);
	if (!m) {
		log_error("migrate", "out of memory");
		return -1;
	}
	m->db = db;
	m->list = list;
	m->count = count;
	m->fn = fn;
	m->data = data;
	/* read first: on every start but the first the table exists, so one
	 * round trip checks the schema (and no "already exists" notice) */
	m->state = MIGRATE_READ;
	if (db_query(db, migrate_read_sql, 0, NULL, MIGRATE_TIMEOUT_MS, migrate_reply, m) < 0) {
		log_error("migrate", "cannot queue a query: %s", db_error(db));
		mem_free(m);
		return -1;
	}
	return 0;
}
