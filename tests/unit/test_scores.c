/* test_scores.c — the activity reports (spec 6.5) as data: the score, both
 * rankings, the sparkline, the embeds within Discord's limits however many
 * channels there are, snowflake times and the month arithmetic of
 * /recalculate_stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discord.h"
#include "json.h"
#include "mem.h"
#include "scores.h"
#include "test.h"

TEST(scores_formula_is_the_specs)
{
	CHECK(scores_score(0, 0) == 0.0);
	CHECK(scores_score(10, 0) == 4.0);
	CHECK(scores_score(0, 10) == 6.0);
	/* 100 × 0.4 + 20 × 0.6 */
	CHECK(scores_score(100, 20) > 51.999 && scores_score(100, 20) < 52.001);
}

TEST(scores_proposed_ranked_by_score_then_recent_then_id)
{
	struct scores_channel v[] = {
	        {.channel_id = 5, .total_messages = 10, .recent_count = 0}, /* 4.0 */
	        {.channel_id = 4, .total_messages = 0, .recent_count = 10}, /* 6.0 */
	        {.channel_id = 3, .total_messages = 3, .recent_count = 2},  /* 2.4 */
	        {.channel_id = 2, .total_messages = 6, .recent_count = 0},  /* 2.4, less recent */
	        {.channel_id = 1, .total_messages = 3, .recent_count = 2},  /* 2.4, lower id */
	        {.channel_id = 9, .total_messages = 0, .recent_count = 0},  /* 0 */
	};
	scores_rank_proposed(v, 6);
	uint64_t want[] = {4, 5, 1, 3, 2, 9};
	for (int i = 0; i < 6; i++)
		CHECK_INT(v[i].channel_id, want[i]);
}

TEST(scores_permanent_ranked_newest_first_silent_last)
{
	struct scores_channel v[] = {
	        {.channel_id = 1, .last_message_timestamp = 0, .total_messages = 0},
	        {.channel_id = 2, .last_message_timestamp = 1700000000, .total_messages = 5},
	        {.channel_id = 3, .last_message_timestamp = 1800000000, .total_messages = 1},
	        {.channel_id = 4, .last_message_timestamp = 1700000000, .total_messages = 9},
	        {.channel_id = 0, .last_message_timestamp = 0, .total_messages = 0},
	};
	scores_rank_permanent(v, 5);
	uint64_t want[] = {3, 4, 2, 0, 1};
	for (int i = 0; i < 5; i++)
		CHECK_INT(v[i].channel_id, want[i]);
}

TEST(scores_sparkline_scales_to_the_busiest_day)
{
	char s[SCORES_SPARKLINE_MAX];
	int64_t none[7] = {0};
	scores_sparkline(none, s);
	CHECK_STR(s, "▁▁▁▁▁▁▁");
	int64_t rising[7] = {0, 1, 2, 3, 4, 5, 7};
	scores_sparkline(rising, s);
	CHECK_STR(s, "▁▂▃▄▅▆█");
	/* one message on a busy channel's quiet day still shows */
	int64_t spike[7] = {1000, 1, 0, 0, 0, 0, 500};
	scores_sparkline(spike, s);
	CHECK_STR(s, "█▂▁▁▁▁▅");
	CHECK_INT(strlen(s), 21);
	CHECK_INT(discord_text_length(s, strlen(s)), 7);
}

/* The embed as Discord would check it: description within 4096 units,
 * everything within 6000, and the writer cut nothing (the JSON holds our
 * text whole). */
static void
check_limits(const struct scores_report *r)
{
	const struct discord_embed *e = &r->embed;
	size_t desc = discord_text_length(e->description, strlen(e->description));
	size_t total = desc + discord_text_length(e->title, strlen(e->title)) +
	               discord_text_length(e->footer, strlen(e->footer));
	CHECK(desc <= DISCORD_EMBED_DESC_MAX);
	CHECK(total <= DISCORD_EMBED_TOTAL_MAX);
	CHECK(e->field_count <= DISCORD_EMBED_FIELDS_MAX);
	struct buf out;
	buf_init(&out, 1 << 20);
	CHECK_INT(discord_message_json(&out, NULL, e, 0, NULL), 0);
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	const struct json_value *root = json_parse(&doc, out.data, out.len);
	CHECK(root != NULL);
	const char *got = json_path_str(root, "embeds[0].description");
	CHECK(got && strcmp(got, e->description) == 0);
	json_doc_free(&doc);
	buf_free(&out);
}

static struct scores_channel *
many(size_t n)
{
	struct scores_channel *v = calloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		/* worst-case widths: 20-digit ids, huge counts */
		v[i].channel_id = UINT64_C(18446744073709551615) - i;
		v[i].total_messages = INT64_C(100000000000) + (int64_t)i;
		v[i].recent_count = (int64_t)(i % 97);
		v[i].last_message_timestamp = i % 3 ? 1700000000 + (int64_t)i : 0;
		for (int d = 0; d < 7; d++)
			v[i].daily[d] = (int64_t)((i + (size_t)d) % 5);
	}
	return v;
}

TEST(scores_reports_fit_however_many_channels)
{
	size_t counts[] = {0, 1, 2, 10, 40, 1000, 100000};
	for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
		size_t n = counts[k];
		struct scores_channel *v = many(n);
		struct scores_report r;
		scores_report_init(&r);
		scores_rank_proposed(v, n);
		CHECK_INT(scores_report_proposed(&r, v, n), 0);
		check_limits(&r);
		CHECK(r.shown <= n);
		if (n == 0) {
			CHECK_STR(r.embed.description, "No proposed channels are tracked yet.");
		} else {
			CHECK(r.shown > 0);
			char more[64];
			snprintf(more, sizeof more, "\xe2\x80\xa6 and %zu more", n - r.shown);
			const char *d = r.embed.description;
			/* the tail line exactly when something was left out */
			CHECK((strstr(d, more) != NULL) == (r.shown < n));
			CHECK((strstr(d, " more") != NULL) == (r.shown < n));
		}
		scores_rank_permanent(v, n);
		CHECK_INT(scores_report_permanent(&r, v, n), 0);
		check_limits(&r);
		if (n == 0)
			CHECK_STR(r.embed.description, "No permanent channels are tracked yet.");
		scores_report_free(&r);
		free(v);
	}
}

TEST(scores_report_lines_read_as_an_admin_expects)
{
	struct scores_channel v[] = {
	        {.channel_id = 111,
	         .total_messages = 100,
	         .recent_count = 20,
	         .daily = {0, 0, 1, 2, 4, 8, 5}},
	        {.channel_id = 222, .total_messages = 3, .recent_count = 0},
	};
	struct scores_report r;
	scores_report_init(&r);
	scores_rank_proposed(v, 2);
	CHECK_INT(scores_report_proposed(&r, v, 2), 0);
	CHECK_STR(r.embed.title, "Proposed Channel Activity");
	CHECK_STR(r.embed.description,
	          "**1.** <#111> · score **52.0** · 100 total · 20 this week `▁▁▂▃▅█▆`\n"
	          "**2.** <#222> · score **1.2** · 3 total · 0 this week `▁▁▁▁▁▁▁`");
	CHECK_INT(r.shown, 2);
	CHECK(strstr(r.embed.footer, "2 proposed channels") != NULL);
	v[1].last_message_timestamp = 0;
	v[0].last_message_timestamp = 1765000000;
	scores_rank_permanent(v, 2);
	CHECK_INT(scores_report_permanent(&r, v, 2), 0);
	CHECK_STR(r.embed.title, "Permanent Channel Activity");
	CHECK_STR(r.embed.description, "**1.** <#111> · last message <t:1765000000:R> · 100 total\n"
	                               "**2.** <#222> · no messages yet");
	scores_report_free(&r);
}

TEST(scores_snowflakes_and_months)
{
	/* docs' example: 175928847299117063 was made 2016-04-30 11:18:25.796 UTC */
	CHECK_INT(scores_snowflake_time(UINT64_C(175928847299117063)), 1462015105);
	CHECK(scores_snowflake_time(scores_snowflake_at(1765000000)) == 1765000000);
	CHECK(scores_snowflake_at(1765000000) > scores_snowflake_at(1764999999));
	CHECK_INT(scores_snowflake_at(0), 0);
	/* 2026-03-31 12:00:00 - 1 month = 2026-02-28 12:00:00 (clamped) */
	CHECK_INT(scores_months_before(1774958400, 1), 1772280000);
	/* 2024-03-31 - 1 month = 2024-02-29 (leap) */
	CHECK_INT(scores_months_before(1711886400, 1), 1709208000);
	/* 2026-12-05 00:00:00 - 6 months = 2026-06-05; - 12 = 2025-12-05; - 13 = 2025-11-05 */
	CHECK_INT(scores_months_before(1796428800, 6), 1780617600);
	CHECK_INT(scores_months_before(1796428800, 12), 1764892800);
	CHECK_INT(scores_months_before(1796428800, 13), 1762300800);
	CHECK_INT(scores_months_before(1796428800, 0), 1796428800);
}
