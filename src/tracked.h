/* tracked — the set of tracked channels (spec 5.1 tracked_channels: the
 * proposed and permanent channels whose messages count toward activity).
 * Loaded at start; shared by the features that read it (activity.c
 * counts messages in it) and those that change it (an approved channel
 * proposal adds one, /promote_channel moves one, /refresh_channels
 * rebuilds it), so it lives here, a layer below them.
 *
 * Membership answers from memory in O(1) (a hash index over the list).
 * Changes update memory at once and the
 * table through store; fn runs exactly once with the database outcome. */
#ifndef AGORA_TRACKED_H
#define AGORA_TRACKED_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

struct bot;
struct tracked;

enum tracked_category {
	TRACKED_PROPOSED = 0,
	TRACKED_PERMANENT = 1,
};

/* 1 when channel_id is tracked, and its category in *category (may be
 * NULL). */
int tracked_contains(struct bot *b, uint64_t channel_id, enum tracked_category *category);
/* How many are tracked, and the i-th (0 <= i < count). */
size_t tracked_count(struct bot *b);
uint64_t tracked_at(struct bot *b, size_t i, enum tracked_category *category);
/* Adds channel_id (or changes its category) in memory and in
 * tracked_channels. fn (may be NULL) runs exactly once with the
 * database's answer, always later (job.h). -1 only when memory runs out
 * (fn then answers with that error). */
int tracked_add(struct bot *b, uint64_t channel_id, enum tracked_category category, db_query_fn *fn,
                void *data);
/* Removes channel_id, in memory and in the table; fn as above. */
int tracked_remove(struct bot *b, uint64_t channel_id, db_query_fn *fn, void *data);

/* ---- for the bot */
struct tracked *tracked_new(void);
void tracked_free(struct tracked *t);
/* Replaces the set with tracked_channels rows (store_channel_list's
 * reply). 0, or -1 out of memory. */
int tracked_load(struct bot *b, const struct db_reply *reply);

#endif
