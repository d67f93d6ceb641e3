/* tracked — see tracked.h. */
#include "tracked.h"

#include <string.h>

#include "bot.h"
#include "job.h"
#include "log.h"
#include "mem.h"
#include "store.h"

struct tracked_channel {
	uint64_t id;
	enum tracked_category category;
};

struct tracked {
	struct tracked_channel *list;
	size_t count, cap;
};

struct tracked *
tracked_new(void)
{
	return mem_calloc(1, sizeof(struct tracked));
}

void
tracked_free(struct tracked *t)
{
	if (!t)
		return;
	mem_free(t->list);
	mem_free(t);
}

static const char *
category_name(enum tracked_category c)
{
	/* tracked_channels.category's values (sql/) */
	return c == TRACKED_PERMANENT ? "permanent" : "proposed";
}

static int
reserve(struct tracked *t, size_t n)
{
	if (n <= t->cap)
		return 0;
	size_t cap = t->cap ? t->cap * 2 : 16;
	while (cap < n)
		cap *= 2;
	if (cap > SIZE_MAX / sizeof *t->list)
		return -1;
	struct tracked_channel *l = mem_realloc(t->list, cap * sizeof *l);
	if (!l)
		return -1;
	t->list = l;
	t->cap = cap;
	return 0;
}

int
tracked_load(struct bot *b, const struct db_reply *reply)
{
	struct tracked *t = bot_tracked(b);
	int rows = db_rows(reply);
	if (rows < 0)
		rows = 0;
	if (reserve(t, (size_t)rows) < 0)
		return -1;
	t->count = 0;
	for (int i = 0; i < rows; i++) {
		struct store_channel row;
		if (store_channel_row(reply, i, &row) < 0)
			continue;
		t->list[t->count].id = row.channel_id;
		t->list[t->count].category = strcmp(row.category, "permanent") == 0
		                                     ? TRACKED_PERMANENT
		                                     : TRACKED_PROPOSED;
		t->count++;
	}
	return 0;
}

static struct tracked_channel *
find(struct tracked *t, uint64_t channel_id)
{
	for (size_t i = 0; i < t->count; i++)
		if (t->list[i].id == channel_id)
			return &t->list[i];
	return NULL;
}

int
tracked_contains(struct bot *b, uint64_t channel_id, enum tracked_category *category)
{
	struct tracked_channel *c = find(bot_tracked(b), channel_id);
	if (c && category)
		*category = c->category;
	return c != NULL;
}

size_t
tracked_count(struct bot *b)
{
	return bot_tracked(b)->count;
}

uint64_t
tracked_at(struct bot *b, size_t i, enum tracked_category *category)
{
	struct tracked *t = bot_tracked(b);
	if (i >= t->count)
		return 0;
	if (category)
		*category = t->list[i].category;
	return t->list[i].id;
}

static void
on_logged(void *data, const struct db_reply *reply)
{
	(void)data;
	if (reply->error)
		log_error("bot", "saving a tracked channel failed: %s", reply->error);
}

int
tracked_add(struct bot *b, uint64_t channel_id, enum tracked_category category, db_query_fn *fn,
            void *data)
{
	struct tracked *t = bot_tracked(b);
	struct tracked_channel *c = find(t, channel_id);
	if (!c) {
		if (reserve(t, t->count + 1) < 0) {
			if (fn)
				job_db_failed(b, NULL, fn, data, "out of memory");
			return -1;
		}
		c = &t->list[t->count++];
		c->id = channel_id;
	}
	c->category = category;
	struct db *db = bot_db(b);
	if (!fn) {
		fn = on_logged;
		data = NULL;
	}
	int rc = db ? store_channel_upsert(db, channel_id, category_name(category), fn, data) : -1;
	job_db(b, NULL, rc, fn, data); /* a refusal answers later too */
	return 0;
}

int
tracked_remove(struct bot *b, uint64_t channel_id, db_query_fn *fn, void *data)
{
	struct tracked *t = bot_tracked(b);
	struct tracked_channel *c = find(t, channel_id);
	if (c)
		*c = t->list[--t->count]; /* order does not matter */
	struct db *db = bot_db(b);
	if (!fn) {
		fn = on_logged;
		data = NULL;
	}
	job_db(b, NULL, db ? store_channel_delete(db, channel_id, fn, data) : -1, fn, data);
	return 0;
}
