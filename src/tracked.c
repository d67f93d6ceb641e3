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

/* list holds the channels; slots indexes them by id (open addressing,
 * linear probing: list index + 1, 0 empty), so the hot path's question,
 * "is this message's channel tracked?", costs one hash and a probe or two
 * whatever the count. slots has a power of two >= 2 * cap entries: it is
 * sized when list grows, so an add or a removal never allocates. */
struct tracked {
	struct tracked_channel *list;
	size_t count, cap;
	uint32_t *slots;
	size_t slot_mask; /* slot count - 1 */
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
	mem_free(t->slots);
	mem_free(t);
}

/* murmur3's 64-bit finalizer: snowflakes' low bits are a counter and a
 * process id, so they are mixed before masking */
static size_t
slot_of(uint64_t id, size_t mask)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)id & mask;
}

static void
index_put(struct tracked *t, size_t i)
{
	size_t at = slot_of(t->list[i].id, t->slot_mask);
	while (t->slots[at])
		at = (at + 1) & t->slot_mask;
	t->slots[at] = (uint32_t)(i + 1);
}

/* Indexes list[0..count) again, in the slots there are (no allocation). */
static void
index_rebuild(struct tracked *t)
{
	if (!t->slots)
		return;
	memset(t->slots, 0, (t->slot_mask + 1) * sizeof *t->slots);
	for (size_t i = 0; i < t->count; i++)
		index_put(t, i);
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
	size_t slots = 16;
	while (slots < 2 * cap)
		slots *= 2;
	if (cap > UINT32_MAX / 4 || slots > SIZE_MAX / sizeof *t->slots)
		return -1;
	uint32_t *index = mem_calloc(slots, sizeof *index);
	if (!index)
		return -1;
	struct tracked_channel *l = mem_reallocarray(t->list, cap, sizeof *l);
	if (!l) {
		mem_free(index);
		return -1;
	}
	mem_free(t->slots);
	t->slots = index;
	t->slot_mask = slots - 1;
	t->list = l;
	t->cap = cap;
	index_rebuild(t);
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
	index_rebuild(t);
	return 0;
}

static struct tracked_channel *
find(struct tracked *t, uint64_t channel_id)
{
	if (!t->slots)
		return NULL;
	for (size_t at = slot_of(channel_id, t->slot_mask); t->slots[at];
	     at = (at + 1) & t->slot_mask)
		if (t->list[t->slots[at] - 1].id == channel_id)
			return &t->list[t->slots[at] - 1];
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
		index_put(t, t->count - 1);
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
	if (c) {
		*c = t->list[--t->count]; /* order does not matter */
		index_rebuild(t);         /* removals are rare: admins' commands */
	}
	struct db *db = bot_db(b);
	if (!fn) {
		fn = on_logged;
		data = NULL;
	}
	job_db(b, NULL, db ? store_channel_delete(db, channel_id, fn, data) : -1, fn, data);
	return 0;
}
