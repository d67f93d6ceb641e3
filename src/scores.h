/* scores — the activity reports of agora-spec.txt 6.5 as pure data: the
 * score, the two rankings, the 7-day sparkline and the text of the two
 * report embeds, cut to Discord's limits. No I/O and no clock: the caller
 * gives the numbers and the time, so every rule is unit-tested.
 *
 * Proposed channels are ranked by score = total_messages × 0.4 +
 * recent_count × 0.6 (recent: the last 7 days), highest first; each line
 * ends with a sparkline of the last 7 days, one block character per day,
 * oldest day first, scaled to that channel's busiest day, so an admin
 * sees at a glance whether a channel is growing or fading. Permanent
 * channels are ranked by last_message_timestamp, newest first, those with
 * no message at the end ("no messages yet").
 *
 * Limits (docs: Resources, Message, "Embed Limits"): the lines go into the
 * description (4096 UTF-16 units); the lines that do not fit become one
 * "… and N more" line, so however many channels are tracked the embed is
 * accepted. No fields are used (so the 25-field limit cannot be hit), and
 * title + description + footer stay far below the 6000 total. */
#ifndef AGORA_SCORES_H
#define AGORA_SCORES_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "discord.h"

#define SCORES_DAYS        7
#define SCORES_DAY_SECONDS 86400
/* SCORES_DAYS block characters of 3 UTF-8 bytes each, and a NUL */
#define SCORES_SPARKLINE_MAX (SCORES_DAYS * 3 + 1)
/* Units kept free at the end of a description for "… and N more" (the
 * longest, with a 20-digit N, is 31). */
#define SCORES_MORE_RESERVE 32

#define SCORES_PROPOSED_TITLE  "Proposed Channel Activity"
#define SCORES_PERMANENT_TITLE "Permanent Channel Activity"

/* One tracked channel's numbers, as the stats task read them. */
struct scores_channel {
	uint64_t channel_id;
	int64_t total_messages;
	int64_t last_message_timestamp; /* Unix seconds; 0: no message yet */
	int64_t recent_count;           /* messages in the last 7 days */
	int64_t daily[SCORES_DAYS];     /* per day, oldest first; [6] = the last 24 h */
};

/* total × 0.4 + recent × 0.6 (spec 6.5). */
double scores_score(int64_t total_messages, int64_t recent_count);
/* Sorts v by score, highest first; ties by recent count (higher first),
 * then channel id (lower first), so the order is stable between runs. */
void scores_rank_proposed(struct scores_channel *v, size_t n);
/* Sorts v by last message, newest first; channels without one last; ties
 * by total (higher first), then channel id. */
void scores_rank_permanent(struct scores_channel *v, size_t n);

/* The 7 days as block characters ▁▂▃▄▅▆▇█, NUL-terminated in out: a day
 * with no message is ▁, the channel's busiest day █, and any other day
 * with messages at least ▂ (so "quiet" and "dead" differ). */
void scores_sparkline(const int64_t daily[SCORES_DAYS], char out[SCORES_SPARKLINE_MAX]);

/* A rendered report: `embed` points into this struct (text, footer), so
 * keep it alive while the embed is used. */
struct scores_report {
	struct buf text;
	char footer[160];
	size_t shown; /* channels listed; the rest are "… and N more" */
	struct discord_embed embed;
};
void scores_report_init(struct scores_report *r);
void scores_report_free(struct scores_report *r);
/* Renders v (already ranked) as the proposed report. 0, or -1 when out of
 * memory (the report is then unusable). */
int scores_report_proposed(struct scores_report *r, const struct scores_channel *v, size_t n);
/* Renders v (already ranked) as the permanent report. */
int scores_report_permanent(struct scores_report *r, const struct scores_channel *v, size_t n);

struct json_value;
/* 1 when a message (a MESSAGE_CREATE's d, or one of GET .../messages)
 * counts toward activity: its author is not a bot (bots do not make a
 * channel lively, and this keeps Agora's own posts out). The live count
 * and /recalculate_stats both ask this, so they count the same. */
int scores_counts_message(const struct json_value *message);
/* The same rule on a MESSAGE_CREATE's head (discord.h), read without a
 * DOM: what the live count asks. */
int scores_counts_head(const struct discord_message_head *m);

/* The Unix time of a snowflake (docs: Reference, "Snowflakes": ms since
 * 2015-01-01 in the top 42 bits), in seconds. */
int64_t scores_snowflake_time(uint64_t snowflake);
/* The smallest snowflake created at or after unix_seconds (for before=
 * and comparisons against a time). */
uint64_t scores_snowflake_at(int64_t unix_seconds);
/* The same calendar day and time `months` months before now (UTC), the
 * day clamped to the month's length (31 March - 1 month = 28/29 Feb). */
int64_t scores_months_before(int64_t now, int months);

#endif
