/* test_guild.c — the guild channel cache replays gateway events
 * (GUILD_CREATE, CHANNEL_CREATE/UPDATE/DELETE) and answers counts and
 * lists per category; events for other guilds change nothing; the cache
 * is bounded and allocates nothing per event once made. */
#include <stdio.h>
#include <string.h>

#include "guild.h"
#include "json.h"
#include "jsonkeep.h"
#include "mem.h"
#include "test.h"

#define GUILD     "1200000000000000001"
#define GUILD_ID  1200000000000000001ULL
#define PROPOSED  900
#define PERMANENT 901

/* Feeds one event; returns guild_on_event's answer (-2: bad JSON here). */
static int
feed(struct guild *g, const char *name, const char *json)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	const struct json_value *d = json_parse(&doc, json, strlen(json));
	int r = d ? guild_on_event(g, name, d) : -2;
	json_doc_free(&doc);
	return r;
}

static const char guild_create[] =
        "{\"id\":\"" GUILD "\",\"name\":\"Agora test\",\"channels\":["
        "{\"id\":\"900\",\"type\":4,\"name\":\"Proposed\",\"position\":1},"
        "{\"id\":\"901\",\"type\":4,\"name\":\"Permanent\",\"position\":2},"
        "{\"id\":\"10\",\"type\":0,\"name\":\"general\",\"position\":0,\"parent_id\":null},"
        "{\"id\":\"11\",\"type\":0,\"name\":\"cats\",\"position\":3,\"parent_id\":\"900\"},"
        "{\"id\":\"12\",\"type\":0,\"name\":\"dogs\",\"position\":1,\"parent_id\":\"900\"},"
        "{\"id\":\"13\",\"type\":0,\"name\":\"r\xc3\xa9sum\xc3\xa9\",\"position\":0,"
        "\"parent_id\":\"901\"}]}";

TEST(guild_replays_create_update_delete)
{
	struct guild *g = guild_new(GUILD_ID, 0);
	CHECK(g != NULL);
	CHECK_INT(guild_loaded(g), 0);
	CHECK_INT(guild_count_in(g, PROPOSED), 0);
	CHECK_INT(feed(g, "GUILD_CREATE", guild_create), 1);
	CHECK_INT(guild_loaded(g), 1);
	CHECK_INT(guild_channel_count(g), 6);
	CHECK_INT(guild_count_in(g, PROPOSED), 2);
	CHECK_INT(guild_count_in(g, PERMANENT), 1);
	CHECK_INT(guild_count_in(g, 0), 3); /* two categories and #general */
	CHECK_STR(guild_channel(g, 13)->name, "r\xc3\xa9sum\xc3\xa9");
	CHECK_INT(guild_channel(g, 900)->type, GUILD_CHANNEL_CATEGORY);

	/* listed in Discord's order: by position, not arrival */
	const struct guild_channel *list[8];
	CHECK_INT(guild_list_in(g, PROPOSED, list, 8), 2);
	CHECK_STR(list[0]->name, "dogs");
	CHECK_STR(list[1]->name, "cats");

	/* a new channel in the category */
	CHECK_INT(feed(g, "CHANNEL_CREATE",
	               "{\"id\":\"14\",\"guild_id\":\"" GUILD "\",\"type\":0,\"name\":\"birds\","
	               "\"position\":0,\"parent_id\":\"900\"}"),
	          1);
	CHECK_INT(guild_count_in(g, PROPOSED), 3);
	CHECK_INT(guild_list_in(g, PROPOSED, list, 8), 3);
	CHECK_STR(list[0]->name, "birds");
	/* a list shorter than the category still holds the first ones */
	CHECK_INT(guild_list_in(g, PROPOSED, list, 1), 3);
	CHECK_STR(list[0]->name, "birds");

	/* promoted: moved to the permanent category, renamed */
	CHECK_INT(feed(g, "CHANNEL_UPDATE",
	               "{\"id\":\"11\",\"guild_id\":\"" GUILD
	               "\",\"type\":0,\"name\":\"cats-forever\","
	               "\"position\":5,\"parent_id\":\"901\"}"),
	          1);
	CHECK_INT(guild_count_in(g, PROPOSED), 2);
	CHECK_INT(guild_count_in(g, PERMANENT), 2);
	CHECK_STR(guild_channel(g, 11)->name, "cats-forever");
	CHECK_INT(guild_channel(g, 11)->parent_id, PERMANENT);
	CHECK_INT(guild_channel_count(g), 7);

	/* deleted */
	CHECK_INT(feed(g, "CHANNEL_DELETE",
	               "{\"id\":\"12\",\"guild_id\":\"" GUILD
	               "\",\"type\":0,\"parent_id\":\"900\"}"),
	          1);
	CHECK(guild_channel(g, 12) == NULL);
	CHECK_INT(guild_count_in(g, PROPOSED), 1);
	CHECK_INT(guild_channel_count(g), 6);
	/* deleting what is not there changes nothing */
	CHECK_INT(feed(g, "CHANNEL_DELETE", "{\"id\":\"12\",\"guild_id\":\"" GUILD "\"}"), 0);

	/* a second GUILD_CREATE (a new session) replaces the whole set */
	CHECK_INT(feed(g, "GUILD_CREATE",
	               "{\"id\":\"" GUILD "\",\"channels\":[{\"id\":\"900\",\"type\":4,"
	               "\"name\":\"Proposed\"}]}"),
	          1);
	CHECK_INT(guild_channel_count(g), 1);
	CHECK_INT(guild_count_in(g, PROPOSED), 0);
	/* an outage's unavailable guild keeps what we know */
	CHECK_INT(feed(g, "GUILD_CREATE", "{\"id\":\"" GUILD "\",\"unavailable\":true}"), 0);
	CHECK_INT(guild_channel_count(g), 1);
	guild_free(g);
}

TEST(guild_ignores_other_guilds_and_bad_events)
{
	struct guild *g = guild_new(GUILD_ID, 0);
	CHECK_INT(feed(g, "GUILD_CREATE", guild_create), 1);
	CHECK_INT(feed(g, "GUILD_CREATE", "{\"id\":\"77\",\"channels\":[]}"), 0);
	CHECK_INT(feed(g, "CHANNEL_CREATE",
	               "{\"id\":\"15\",\"guild_id\":\"77\",\"type\":0,\"name\":\"x\"}"),
	          0);
	CHECK_INT(feed(g, "CHANNEL_DELETE", "{\"id\":\"11\",\"guild_id\":\"77\"}"), 0);
	CHECK_INT(feed(g, "MESSAGE_CREATE", "{\"id\":\"1\",\"guild_id\":\"" GUILD "\"}"), 0);
	/* one of the four, but no id or type: refused, the cache unchanged */
	CHECK_INT(feed(g, "CHANNEL_CREATE", "{\"guild_id\":\"" GUILD "\",\"type\":0}"), -1);
	CHECK_INT(feed(g, "CHANNEL_UPDATE", "{\"id\":\"11\",\"guild_id\":\"" GUILD "\"}"), -1);
	CHECK_INT(feed(g, "CHANNEL_DELETE", "{\"guild_id\":\"" GUILD "\"}"), -1);
	CHECK_INT(feed(g, "GUILD_CREATE", "{\"id\":\"" GUILD "\",\"channels\":7}"), -1);
	CHECK_INT(guild_channel_count(g), 6);
	CHECK_STR(guild_channel(g, 11)->name, "cats");
	/* a name longer than Discord allows is cut, not overflowed */
	char big[2048];
	char name[1200];
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = 0;
	snprintf(big, sizeof big,
	         "{\"id\":\"16\",\"guild_id\":\"" GUILD "\",\"type\":0,\"name\":\"%s\"}", name);
	CHECK_INT(feed(g, "CHANNEL_CREATE", big), 1);
	CHECK_INT(strlen(guild_channel(g, 16)->name), GUILD_CHANNEL_NAME_MAX);
	guild_free(g);
}

TEST(guild_is_bounded_and_allocates_nothing_per_event)
{
	struct guild *g = guild_new(GUILD_ID, 4);
	char ev[256];
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	/* warm the document's arena once, then count */
	snprintf(ev, sizeof ev,
	         "{\"id\":\"1\",\"guild_id\":\"" GUILD "\",\"type\":0,\"name\":\"c1\","
	         "\"parent_id\":\"900\"}");
	guild_on_event(g, "CHANNEL_CREATE", json_parse(&doc, ev, strlen(ev)));
	mem_fail_after(1000000); /* counts from here */
	for (int i = 2; i <= 10; i++) {
		snprintf(ev, sizeof ev,
		         "{\"id\":\"%d\",\"guild_id\":\"" GUILD "\",\"type\":0,\"name\":\"c%d\","
		         "\"parent_id\":\"900\"}",
		         i, i);
		const struct json_value *d = json_parse(&doc, ev, strlen(ev));
		guild_on_event(g, "CHANNEL_CREATE", d);
		guild_on_event(g, "CHANNEL_UPDATE", d);
	}
	long counted = mem_fail_after(-1);
	CHECK_INT(counted, 0);
	CHECK_INT(guild_channel_count(g), 4); /* the cap */
	CHECK_INT(guild_dropped(g), 12);      /* channels 5-10: each create and update refused */
	CHECK_INT(guild_count_in(g, 900), 4);
	json_doc_free(&doc);
	guild_free(g);
}

/* Names live in one pool: thousands of renames (long names, short ones,
 * deletes and creates in between) squeeze the garbage out again and again,
 * and every channel keeps its own latest name; a NUL from \u0000 ends a
 * name, and a name past the maximum keeps a prefix. */
TEST(guild_names_survive_renames_and_squeezes)
{
	struct guild *g = guild_new(GUILD_ID, 4);
	if (!CHECK(g))
		return;
	CHECK_INT(feed(g, "GUILD_CREATE",
	               "{\"id\":\"" GUILD "\",\"channels\":["
	               "{\"id\":\"1\",\"type\":0,\"name\":\"a\"},"
	               "{\"id\":\"2\",\"type\":0,\"name\":\"b\"},"
	               "{\"id\":\"3\",\"type\":0}]}"),
	          1);
	CHECK_STR(guild_channel(g, 3)->name, "");
	char want[5][500];
	snprintf(want[1], sizeof want[1], "a");
	snprintf(want[2], sizeof want[2], "b");
	want[3][0] = '\0';
	want[4][0] = '\0';
	int wrong = 0, four = 0;
	for (int round = 0; round < 3000; round++) {
		int id = 1 + round % 4;
		if (id == 4) {
			/* channel 4 comes and goes */
			char ev[200];
			if (four) {
				snprintf(ev, sizeof ev,
				         "{\"id\":\"4\",\"guild_id\":\"" GUILD "\"}");
				CHECK_INT(feed(g, "CHANNEL_DELETE", ev), 1);
			} else {
				snprintf(ev, sizeof ev,
				         "{\"id\":\"4\",\"guild_id\":\"" GUILD "\",\"type\":0,"
				         "\"name\":\"four-%d\"}",
				         round);
				snprintf(want[4], sizeof want[4], "four-%d", round);
				CHECK_INT(feed(g, "CHANNEL_CREATE", ev), 1);
			}
			four = !four;
		} else {
			/* lengths from 1 to 400 bytes, the longest every few rounds */
			size_t len = 1 + (size_t)(round * 37) % 400;
			char name[401];
			for (size_t i = 0; i < len; i++)
				name[i] = (char)('a' + (round + (int)i) % 26);
			name[len] = '\0';
			char ev[600];
			snprintf(ev, sizeof ev,
			         "{\"id\":\"%d\",\"guild_id\":\"" GUILD
			         "\",\"type\":0,\"name\":\"%s\"}",
			         id, name);
			CHECK_INT(feed(g, "CHANNEL_UPDATE", ev), 1);
			snprintf(want[id], sizeof want[id], "%s", name);
		}
		for (int c = 1; c <= 4; c++) {
			const struct guild_channel *ch = guild_channel(g, (uint64_t)c);
			if (c == 4 && !four)
				wrong += ch != NULL;
			else
				wrong += !ch || strcmp(ch->name, want[c]) != 0;
		}
	}
	CHECK_INT(wrong, 0);
	CHECK_INT(feed(g, "CHANNEL_UPDATE",
	               "{\"id\":\"1\",\"guild_id\":\"" GUILD
	               "\",\"type\":0,\"name\":\"x\\u0000y\"}"),
	          1);
	CHECK_STR(guild_channel(g, 1)->name, "x");
	char longest[700];
	int n = snprintf(longest, sizeof longest,
	                 "{\"id\":\"2\",\"guild_id\":\"" GUILD "\",\"type\":0,\"name\":\"");
	memset(longest + n, 'z', 450);
	snprintf(longest + n + 450, sizeof longest - (size_t)n - 450, "\"}");
	CHECK_INT(feed(g, "CHANNEL_UPDATE", longest), 1);
	CHECK_INT(strlen(guild_channel(g, 2)->name), GUILD_CHANNEL_NAME_MAX);
	guild_free(g);
}

/* A big guild's GUILD_CREATE reaches the cache pruned by
 * guild_gateway_keep() (gateway.c prunes payloads past 64 KiB), a small
 * one whole: both must fill the cache the same. A field guild.c starts to
 * read but the keep rules drop shows here as a difference, on a payload
 * shaped like Discord's (roles, members, overwrites, topics, threads). */
TEST(guild_whole_and_pruned_guild_create_fill_the_cache_alike)
{
	static const char payload[] =
	        "{\"t\":\"GUILD_CREATE\",\"s\":2,\"op\":0,\"d\":{\"id\":\"" GUILD "\","
	        "\"name\":\"Agora test\",\"unavailable\":false,\"member_count\":2,"
	        "\"roles\":[{\"id\":\"" GUILD
	        "\",\"name\":\"@everyone\",\"permissions\":\"1024\"}],"
	        "\"members\":[{\"user\":{\"id\":\"5\",\"username\":\"a\"},\"roles\":[]},"
	        "{\"user\":{\"id\":\"6\",\"username\":\"b\\\"}\"},\"roles\":[\"7\"]}],"
	        "\"channels\":["
	        "{\"id\":\"900\",\"type\":4,\"name\":\"Proposed\",\"position\":1,\"guild_id\":"
	        "\"" GUILD "\",\"permission_overwrites\":[{\"id\":\"5\",\"type\":1,\"allow\":\"0\","
	        "\"deny\":\"1024\"}]},"
	        "{\"topic\":\"{not "
	        "json]\",\"id\":\"901\",\"type\":4,\"name\":\"Permanent\",\"position\":2},"
	        "{\"id\":\"10\",\"type\":0,\"name\":\"general\",\"position\":0,\"parent_id\":null,"
	        "\"nsfw\":false,\"rate_limit_per_user\":0,\"last_message_id\":\"99\"},"
	        "{\"id\":\"11\",\"type\":0,\"name\":\"cats\",\"position\":3,\"parent_id\":\"900\","
	        "\"topic\":\"\\u00e9 \\\\ \\\"q\\\"\"},"
	        "{\"id\":\"12\",\"type\":2,\"name\":\"voice\",\"position\":1,\"parent_id\":\"901\","
	        "\"bitrate\":64000,\"user_limit\":0}],"
	        "\"threads\":[{\"id\":\"20\",\"type\":11,\"parent_id\":\"10\",\"name\":\"t\"}],"
	        "\"voice_states\":[],\"presences\":[],\"emojis\":[],\"stickers\":[]}}";

	/* whole: the DOM of the payload, as a small guild's arrives */
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	const struct json_value *root = json_parse(&doc, payload, strlen(payload));
	CHECK(root != NULL);
	struct guild *whole = guild_new(GUILD_ID, 0);
	CHECK_INT(guild_on_event(whole, "GUILD_CREATE", json_get(root, "d")), 1);
	json_doc_free(&doc);

	/* pruned: streamed through the pruner in small pieces, as a big one */
	struct jsonkeep k;
	jsonkeep_init(&k, guild_gateway_keep(), 1 << 16);
	jsonkeep_reset(&k);
	for (size_t at = 0, n = strlen(payload); at < n; at += 7)
		CHECK_INT(jsonkeep_feed(&k, payload + at, n - at < 7 ? n - at : 7), 0);
	CHECK_INT(jsonkeep_finish(&k), 0);
	size_t len;
	const char *text = jsonkeep_output(&k, &len);
	CHECK(text != NULL && len < strlen(payload) / 2); /* it did prune */
	CHECK(text && strstr(text, "members") == NULL && strstr(text, "topic") == NULL);
	json_doc_init(&doc, 1 << 16);
	root = text ? json_parse(&doc, text, len) : NULL;
	CHECK(root != NULL);
	struct guild *pruned = guild_new(GUILD_ID, 0);
	CHECK_INT(guild_on_event(pruned, "GUILD_CREATE", json_get(root, "d")), 1);
	json_doc_free(&doc);
	jsonkeep_free(&k);

	CHECK_INT(guild_channel_count(pruned), 5);
	CHECK_INT(guild_channel_count(pruned), guild_channel_count(whole));
	for (size_t i = 0; i < guild_channel_count(whole); i++) {
		const struct guild_channel *a = guild_channel_at(whole, i);
		const struct guild_channel *b = guild_channel(pruned, a->id);
		CHECK(b != NULL);
		if (!b)
			continue;
		CHECK_INT(b->parent_id, a->parent_id);
		CHECK_INT(b->type, a->type);
		CHECK_INT(b->position, a->position);
		CHECK_STR(b->name, a->name);
	}
	guild_free(whole);
	guild_free(pruned);
}
