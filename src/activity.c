/* activity — spec 6.5's home: channel activity. Today it counts the
 * messages of tracked channels into Redis (cache_record_message); the
 * stats task, /promote_channel, /refresh_channels and /recalculate_stats
 * join it here.
 *
 * The tracked set itself lives a layer down (tracked.h), since approving
 * a proposal adds to it too; this file only reads it. */
#include <stdint.h>
#include <string.h>

#include "bot.h"
#include "cache.h"
#include "feature_table.h"
#include "json.h"
#include "tracked.h"

/* docs: Reference, "Snowflakes": a snowflake holds its creation time, ms
 * since 2015-01-01 (the Discord epoch), in its top 42 bits. */
#define DISCORD_EPOCH_MS UINT64_C(1420070400000)

static void
on_message(struct bot *b, const struct json_value *d)
{
	uint64_t channel_id, message_id;
	if (json_path_id(d, "channel_id", &channel_id) < 0 ||
	    json_path_id(d, "id", &message_id) < 0)
		return;
	if (!tracked_contains(b, channel_id, NULL))
		return;
	/* bots do not make a channel lively (and this keeps our own posts out) */
	if (json_bool(json_path(d, "author.bot")) == 1)
		return;
	int64_t unix_time = (int64_t)(((message_id >> 22) + DISCORD_EPOCH_MS) / 1000);
	cache_record_message(bot_cache(b), channel_id, message_id, unix_time);
}

static void
activity_dispatch(struct bot *b, const char *event_name, const struct json_value *d)
{
	if (strcmp(event_name, "MESSAGE_CREATE") == 0)
		on_message(b, d);
}

const struct bot_feature feature_activity = {
        .name = "activity",
        .dispatch = activity_dispatch,
};
