/* store_tracked — the tracked_channels queries of the channel lifecycle
 * (agora-spec.txt 6.5 promotion, 7.2 /refresh_channels), beside store.h's
 * plain ones, over db.h with store.h's conventions: one parameterized
 * query each, 0 and fn(data) exactly once, or -1 at once without a
 * callback. */
#ifndef AGORA_STORE_TRACKED_H
#define AGORA_STORE_TRACKED_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* Makes tracked_channels hold exactly the n channels given (ids[i] in
 * categories[i], "proposed" or "permanent"), in ONE statement, so a
 * failure changes nothing. Reply: a row per change, (channel_id,
 * category, change) with change "added", "moved" (category: the new one)
 * or "removed" (category: the old one), ordered by change then id. -1 on a
 * bad category or no memory. */
int store_tracked_sync(struct db *db, const uint64_t *ids, const char *const *categories, size_t n,
                       db_query_fn *fn, void *data);
/* proposed -> permanent, guarded in SQL. Reply: one row (channel_id) if it
 * was a tracked proposed channel, else 0 rows. */
int store_tracked_promote(struct db *db, uint64_t channel_id, db_query_fn *fn, void *data);
/* A channel's category as the gateway saw it move (CHANNEL_UPDATE between
 * the two categories), only if it is tracked. Reply: 0 or 1 row
 * (channel_id). */
int store_tracked_move(struct db *db, uint64_t channel_id, const char *category, db_query_fn *fn,
                       void *data);

#endif
