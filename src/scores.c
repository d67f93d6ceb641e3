/* scores — see scores.h. */
#include "scores.h"

#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* docs: Reference, "Snowflakes": the Discord epoch, 2015-01-01T00:00:00Z */
#define SCORES_DISCORD_EPOCH_MS INT64_C(1420070400000)
#define SCORES_COLOR_PROPOSED   0x3498db
#define SCORES_COLOR_PERMANENT  0x9b59b6

double
scores_score(int64_t total_messages, int64_t recent_count)
{
	return (double)total_messages * 0.4 + (double)recent_count * 0.6;
}

/* score × 10 as an integer: 4 × total + 6 × recent compares exactly where
 * the doubles could tie by rounding; counts stay far below 2^59. */
static int64_t
scores_key(const struct scores_channel *c)
{
	return 4 * c->total_messages + 6 * c->recent_count;
}

static int
scores_cmp_id(const struct scores_channel *a, const struct scores_channel *b)
{
	return a->channel_id < b->channel_id ? -1 : a->channel_id > b->channel_id;
}

static int
scores_cmp_proposed(const void *pa, const void *pb)
{
	const struct scores_channel *a = pa, *b = pb;
	int64_t ka = scores_key(a), kb = scores_key(b);
	if (ka != kb)
		return ka > kb ? -1 : 1;
	if (a->recent_count != b->recent_count)
		return a->recent_count > b->recent_count ? -1 : 1;
	return scores_cmp_id(a, b);
}

static int
scores_cmp_permanent(const void *pa, const void *pb)
{
	const struct scores_channel *a = pa, *b = pb;
	if (a->last_message_timestamp != b->last_message_timestamp)
		return a->last_message_timestamp > b->last_message_timestamp ? -1 : 1;
	if (a->total_messages != b->total_messages)
		return a->total_messages > b->total_messages ? -1 : 1;
	return scores_cmp_id(a, b);
}

void
scores_rank_proposed(struct scores_channel *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof *v, scores_cmp_proposed);
}

void
scores_rank_permanent(struct scores_channel *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof *v, scores_cmp_permanent);
}

void
scores_sparkline(const int64_t daily[SCORES_DAYS], char out[SCORES_SPARKLINE_MAX])
{
	/* U+2581..U+2588: E2 96 81..88 */
	int64_t max = 0;
	for (int i = 0; i < SCORES_DAYS; i++)
		if (daily[i] > max)
			max = daily[i];
	for (int i = 0; i < SCORES_DAYS; i++) {
		int level = 0;
		if (daily[i] > 0 && max > 0) {
			/* 1..7, rounded up: any message lifts the day off the floor */
			int64_t l = (daily[i] * 7 + max - 1) / max;
			level = (int)(l < 1 ? 1 : l > 7 ? 7 : l);
		}
		out[3 * i] = (char)0xe2;
		out[3 * i + 1] = (char)0x96;
		out[3 * i + 2] = (char)(0x81 + level);
	}
	out[3 * SCORES_DAYS] = '\0';
}

void
scores_report_init(struct scores_report *r)
{
	memset(r, 0, sizeof *r);
	/* the description is at most 4096 UTF-16 units: at most 3 bytes each
	 * (a 4-byte character is 2 units), and room for the line being tried */
	buf_init(&r->text, 4 * DISCORD_EMBED_DESC_MAX);
}

void
scores_report_free(struct scores_report *r)
{
	buf_free(&r->text);
}

/* Appends the lines made by `line` for v[0..n) while they fit, then the
 * "… and N more" line; sets r->shown. */
typedef int scores_line_fn(struct buf *out, size_t rank, const struct scores_channel *c);

static int
scores_fill(struct scores_report *r, const struct scores_channel *v, size_t n, scores_line_fn *line,
            const char *empty)
{
	/* one line: a 20-digit id, numbers and 7 bars stay far below this */
	struct buf l;
	buf_init(&l, 512);
	size_t units = 0;
	buf_reset(&r->text);
	r->shown = 0;
	if (n == 0)
		return buf_puts(&r->text, empty);
	for (size_t i = 0; i < n; i++) {
		buf_reset(&l);
		if (line(&l, i + 1, &v[i]) < 0) {
			buf_free(&l);
			return -1;
		}
		size_t u = discord_text_length(l.data, l.len);
		if (units + u > DISCORD_EMBED_DESC_MAX - SCORES_MORE_RESERVE)
			break;
		if (buf_append(&r->text, l.data, l.len) < 0) {
			buf_free(&l);
			return -1;
		}
		units += u;
		r->shown++;
	}
	buf_free(&l);
	if (r->shown < n && buf_printf(&r->text, "\xe2\x80\xa6 and %zu more", n - r->shown) < 0)
		return -1;
	/* no trailing line break: Discord trims it anyway, and the edit
	 * would differ from what it shows */
	if (r->text.len && r->text.data[r->text.len - 1] == '\n')
		r->text.data[--r->text.len] = '\0';
	return 0;
}

static int
scores_line_proposed(struct buf *out, size_t rank, const struct scores_channel *c)
{
	char spark[SCORES_SPARKLINE_MAX];
	scores_sparkline(c->daily, spark);
	int64_t tenths = scores_key(c); /* score × 10, exact */
	/* "**1.** <#id> · score **12.4** · 31 total · 7 this week `▁▂█▁▁▃▅`" */
	return buf_printf(out,
	                  "**%zu.** <#%llu> \xc2\xb7 score **%lld.%lld** \xc2\xb7 %lld total "
	                  "\xc2\xb7 %lld this week `%s`\n",
	                  rank, (unsigned long long)c->channel_id, (long long)(tenths / 10),
	                  (long long)(tenths % 10), (long long)c->total_messages,
	                  (long long)c->recent_count, spark);
}

static int
scores_line_permanent(struct buf *out, size_t rank, const struct scores_channel *c)
{
	if (c->last_message_timestamp <= 0)
		return buf_printf(out, "**%zu.** <#%llu> \xc2\xb7 no messages yet\n", rank,
		                  (unsigned long long)c->channel_id);
	/* <t:T:R> shows "3 hours ago" in each reader's own clock (docs:
	 * Reference, "Message Formatting", timestamp styles) */
	return buf_printf(out,
	                  "**%zu.** <#%llu> \xc2\xb7 last message <t:%lld:R> \xc2\xb7 %lld total\n",
	                  rank, (unsigned long long)c->channel_id,
	                  (long long)c->last_message_timestamp, (long long)c->total_messages);
}

int
scores_report_proposed(struct scores_report *r, const struct scores_channel *v, size_t n)
{
	if (scores_fill(r, v, n, scores_line_proposed, "No proposed channels are tracked yet.") < 0)
		return -1;
	snprintf(r->footer, sizeof r->footer,
	         "%zu proposed channel%s \xc2\xb7 score = total \xc3\x97 0.4 + last 7 days "
	         "\xc3\x97 0.6 \xc2\xb7 bars: the last 7 days, oldest first",
	         n, n == 1 ? "" : "s");
	r->embed = (struct discord_embed){
	        .title = SCORES_PROPOSED_TITLE,
	        .description = buf_str(&r->text),
	        .color = SCORES_COLOR_PROPOSED,
	        .footer = r->footer,
	};
	return 0;
}

int
scores_report_permanent(struct scores_report *r, const struct scores_channel *v, size_t n)
{
	if (scores_fill(r, v, n, scores_line_permanent, "No permanent channels are tracked yet.") <
	    0)
		return -1;
	snprintf(r->footer, sizeof r->footer,
	         "%zu permanent channel%s \xc2\xb7 most recent activity first", n,
	         n == 1 ? "" : "s");
	r->embed = (struct discord_embed){
	        .title = SCORES_PERMANENT_TITLE,
	        .description = buf_str(&r->text),
	        .color = SCORES_COLOR_PERMANENT,
	        .footer = r->footer,
	};
	return 0;
}

/* The one rule both readers below apply: a bot's message does not count. */
static int
scores_counts_author(int author_bot)
{
	return author_bot != 1;
}

int
scores_counts_message(const struct json_value *message)
{
	return scores_counts_author(json_bool(json_path(message, "author.bot")));
}

int
scores_counts_head(const struct discord_message_head *m)
{
	return scores_counts_author(m->author_bot);
}

int64_t
scores_snowflake_time(uint64_t snowflake)
{
	return ((int64_t)(snowflake >> 22) + SCORES_DISCORD_EPOCH_MS) / 1000;
}

uint64_t
scores_snowflake_at(int64_t unix_seconds)
{
	int64_t ms = unix_seconds * 1000 - SCORES_DISCORD_EPOCH_MS;
	return ms <= 0 ? 0 : (uint64_t)ms << 22;
}

static int
scores_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int64_t
scores_months_before(int64_t now, int months)
{
	time_t t = (time_t)now;
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return now;
	int month = tm.tm_mon - months % 12;
	int year = tm.tm_year + 1900 - months / 12;
	if (month < 0) {
		month += 12;
		year--;
	}
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int last = days[month] + (month == 1 && scores_leap(year));
	int day = tm.tm_mday > last ? last : tm.tm_mday;
	/* days from 1970-01-01 to year-month-day (proleptic Gregorian) */
	int64_t y = year, m = month + 1;
	if (m <= 2)
		y--;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days_since = era * 146097 + doe - 719468;
	return days_since * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}
