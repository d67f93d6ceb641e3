/* store_tracked — see store_tracked.h. */
#include "store_tracked.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

/* "18446744073709551615" and a sign fit in 24 */
#define STORE_TRACKED_NUM 24

static int
store_tracked_category(const char *c)
{
	return c && (strcmp(c, "proposed") == 0 || strcmp(c, "permanent") == 0);
}

/* The data-modifying CTEs all see one snapshot: the DELETE takes the rows
 * not wanted, the upsert writes only rows whose category differs (xmax is
 * 0 on a freshly inserted row, which tells "added" from "moved"). */
static const char store_tracked_sync_sql[] =
        "WITH wanted AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS w(channel_id, "
        "category)), "
        "removed AS (DELETE FROM tracked_channels t WHERE NOT EXISTS (SELECT 1 FROM wanted w "
        "WHERE w.channel_id = t.channel_id) RETURNING t.channel_id, t.category, "
        "'removed'::text AS change), "
        "upserted AS (INSERT INTO tracked_channels (channel_id, category) SELECT channel_id, "
        "category FROM wanted ON CONFLICT (channel_id) DO UPDATE SET category = "
        "EXCLUDED.category WHERE tracked_channels.category IS DISTINCT FROM EXCLUDED.category "
        "RETURNING channel_id, category, CASE WHEN xmax = 0 THEN 'added' ELSE 'moved' END) "
        "SELECT * FROM removed UNION ALL SELECT * FROM upserted ORDER BY 3, 1";

int
store_tracked_sync(struct db *db, const uint64_t *ids, const char *const *categories, size_t n,
                   db_query_fn *fn, void *data)
{
	if ((n && (!ids || !categories)) || n > (SIZE_MAX - 64) / STORE_TRACKED_NUM)
		return -1;
	/* array literals: {1,2} and {proposed,permanent} (both plain words,
	 * checked, so nothing needs quoting) */
	struct buf a, b;
	buf_init(&a, 64 + n * STORE_TRACKED_NUM);
	buf_init(&b, 64 + n * 12);
	int bad = buf_putc(&a, '{') < 0 || buf_putc(&b, '{') < 0;
	for (size_t i = 0; i < n && !bad; i++) {
		if (!store_tracked_category(categories[i]))
			bad = 1;
		else
			bad = buf_printf(&a, "%s%llu", i ? "," : "", (unsigned long long)ids[i]) <
			              0 ||
			      buf_printf(&b, "%s%s", i ? "," : "", categories[i]) < 0;
	}
	bad = bad || buf_putc(&a, '}') < 0 || buf_putc(&b, '}') < 0;
	int rc = -1;
	if (!bad) {
		const char *p[] = {buf_str(&a), buf_str(&b)};
		rc = db_query(db, store_tracked_sync_sql, 2, p, 0, fn, data);
	}
	buf_free(&a);
	buf_free(&b);
	return rc;
}

int
store_tracked_promote(struct db *db, uint64_t channel_id, db_query_fn *fn, void *data)
{
	char c[STORE_TRACKED_NUM];
	snprintf(c, sizeof c, "%llu", (unsigned long long)channel_id);
	const char *p[] = {c};
	return db_query(db,
	                "UPDATE tracked_channels SET category = 'permanent' WHERE channel_id = $1 "
	                "AND category = 'proposed' RETURNING channel_id",
	                1, p, 0, fn, data);
}

int
store_tracked_move(struct db *db, uint64_t channel_id, const char *category, db_query_fn *fn,
                   void *data)
{
	if (!store_tracked_category(category))
		return -1;
	char c[STORE_TRACKED_NUM];
	snprintf(c, sizeof c, "%llu", (unsigned long long)channel_id);
	const char *p[] = {c, category};
	return db_query(db,
	                "UPDATE tracked_channels SET category = $2 WHERE channel_id = $1 "
	                "RETURNING channel_id",
	                2, p, 0, fn, data);
}
