/* test_store_tracked — the channel lifecycle queries of
 * src/store_tracked.c against the real PostgreSQL (tests/services.sh). */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "loop.h"
#include "migrate.h"
#include "services.h"
#include "store_tracked.h"
#include "test.h"

static struct db *
open_db(struct loop *loop, const char *name)
{
	return services_migrated_db(loop, name, "tracked_channels");
}

static void
wait_reply(struct loop *loop, int rc, struct services_reply *r)
{
	CHECK_INT(rc, 0);
	if (rc == 0)
		services_wait(loop, &r->done, 10000);
	CHECK_INT(r->done, 1);
	CHECK_STR(r->error, "");
}

/* "id category change; ..." of a sync reply */
static const char *
changes(const struct services_reply *r)
{
	static char out[512];
	out[0] = 0;
	for (int i = 0; i < r->rows && i < SERVICES_ROWS; i++) {
		size_t len = strlen(out);
		snprintf(out + len, sizeof out - len, "%s%s %s %s", i ? "; " : "", r->value[i][0],
		         r->value[i][1], r->value[i][2]);
	}
	return out;
}

TEST(store_tracked_sync_reports_added_moved_removed)
{
	struct loop *loop = loop_new();
	struct db *db = open_db(loop, "store_tracked_sync_reports_added_moved_removed");
	if (!db) {
		loop_free(loop);
		return;
	}
	struct services_reply r;
	uint64_t ids1[] = {11, 12, 13};
	const char *cats1[] = {"proposed", "proposed", "permanent"};
	memset(&r, 0, sizeof r);
	wait_reply(loop, store_tracked_sync(db, ids1, cats1, 3, services_reply_fn, &r), &r);
	CHECK_STR(changes(&r), "11 proposed added; 12 proposed added; 13 permanent added");

	/* the same again: nothing changes */
	memset(&r, 0, sizeof r);
	wait_reply(loop, store_tracked_sync(db, ids1, cats1, 3, services_reply_fn, &r), &r);
	CHECK_INT(r.rows, 0);

	/* 11 gone, 12 promoted by hand, 14 new */
	uint64_t ids2[] = {12, 13, 14};
	const char *cats2[] = {"permanent", "permanent", "proposed"};
	memset(&r, 0, sizeof r);
	wait_reply(loop, store_tracked_sync(db, ids2, cats2, 3, services_reply_fn, &r), &r);
	CHECK_STR(changes(&r), "14 proposed added; 12 permanent moved; 11 proposed removed");

	memset(&r, 0, sizeof r);
	services_query(loop, db, "SELECT channel_id, category FROM tracked_channels ORDER BY 1", 0,
	               NULL, &r);
	CHECK_INT(r.rows, 3);

	/* a bad category is refused before any SQL */
	const char *bad[] = {"permanent", "archived", "proposed"};
	CHECK_INT(store_tracked_sync(db, ids2, bad, 3, services_reply_fn, &r), -1);

	/* promotion: only a tracked proposed channel */
	memset(&r, 0, sizeof r);
	wait_reply(loop, store_tracked_promote(db, 14, services_reply_fn, &r), &r);
	CHECK_INT(r.rows, 1);
	memset(&r, 0, sizeof r);
	wait_reply(loop, store_tracked_promote(db, 14, services_reply_fn, &r), &r);
	CHECK_INT(r.rows, 0); /* already permanent */
	memset(&r, 0, sizeof r);
	wait_reply(loop, store_tracked_promote(db, 99, services_reply_fn, &r), &r);
	CHECK_INT(r.rows, 0); /* not tracked */

	/* a move seen on the gateway touches tracked channels only */
	memset(&r, 0, sizeof r);
	wait_reply(loop, store_tracked_move(db, 13, "proposed", services_reply_fn, &r), &r);
	CHECK_INT(r.rows, 1);
	memset(&r, 0, sizeof r);
	wait_reply(loop, store_tracked_move(db, 99, "proposed", services_reply_fn, &r), &r);
	CHECK_INT(r.rows, 0);

	/* nothing wanted: everything removed */
	memset(&r, 0, sizeof r);
	wait_reply(loop, store_tracked_sync(db, NULL, NULL, 0, services_reply_fn, &r), &r);
	CHECK_STR(changes(&r), "12 permanent removed; 13 proposed removed; 14 permanent removed");
	db_free(db);
	loop_free(loop);
}
