/* test_discord.c — reading interactions (options, attachments, modal
 * values in both shapes, admin checks) and writing message bodies within
 * Discord's limits, with allowed_mentions always empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discord.h"
#include "json.h"
#include "test.h"

static const char slash[] =
        "{\"id\":\"1400000000000000001\",\"application_id\":\"1100000000000000001\",\"type\":2,"
        "\"token\":\"tok-abc\",\"guild_id\":\"1200000000000000001\",\"channel_id\":\"12\","
        "\"member\":{\"user\":{\"id\":\"1300000000000000001\"},\"roles\":[\"77\",\"88\"],"
        "\"permissions\":\"2147483647\"},"
        "\"data\":{\"id\":\"9\",\"name\":\"propose_emoji\",\"type\":1,\"options\":["
        "{\"name\":\"name\",\"type\":3,\"value\":\"party_cat\"},"
        "{\"name\":\"count\",\"type\":4,\"value\":42},"
        "{\"name\":\"file\",\"type\":11,\"value\":\"555\"}],"
        "\"resolved\":{\"attachments\":{\"555\":{\"id\":\"555\",\"filename\":\"cat.png\","
        "\"size\":1234,\"url\":\"https://cdn.example/cat.png\",\"content_type\":\"image/png\"}}}}}";

TEST(discord_parses_a_slash_command)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	const struct json_value *d = json_parse(&doc, slash, sizeof slash - 1);
	struct interaction it;
	char err[100];
	CHECK_INT(interaction_parse(d, &it, err, sizeof err), 0);
	CHECK_INT(it.id, 1400000000000000001ULL);
	CHECK_INT(it.application_id, 1100000000000000001ULL);
	CHECK_INT(it.user_id, 1300000000000000001ULL);
	CHECK_INT(it.channel_id, 12);
	CHECK_INT(it.type, INTERACTION_COMMAND);
	CHECK_STR(it.token, "tok-abc");
	CHECK_STR(it.name, "propose_emoji");
	CHECK_INT(it.role_count, 2);
	CHECK_STR(interaction_option_str(&it, "name"), "party_cat");
	int64_t n = 0;
	CHECK_INT(interaction_option_int(&it, "count", &n), 0);
	CHECK_INT(n, 42);
	CHECK(interaction_option(&it, "missing") == NULL);
	CHECK_STR(json_path_str(interaction_attachment(&it, "file"), "filename"), "cat.png");
	CHECK(interaction_attachment(&it, "name") == NULL);
	json_doc_free(&doc);
}

TEST(discord_admin_is_permission_or_role)
{
	struct interaction it;
	memset(&it, 0, sizeof it);
	CHECK_INT(interaction_is_admin(&it, 0), 0);
	it.permissions = DISCORD_PERM_MANAGE_GUILD;
	CHECK_INT(interaction_is_admin(&it, 0), 1);
	it.permissions = DISCORD_PERM_ADMINISTRATOR;
	CHECK_INT(interaction_is_admin(&it, 0), 1);
	it.permissions = 1 << 11; /* SEND_MESSAGES only */
	CHECK_INT(interaction_is_admin(&it, 0), 0);
	it.roles[0] = 99;
	it.role_count = 1;
	CHECK_INT(interaction_is_admin(&it, 98), 0);
	CHECK_INT(interaction_is_admin(&it, 99), 1);
}

TEST(discord_modal_values_in_both_shapes)
{
	static const char rows[] =
	        "{\"id\":\"1\",\"type\":5,\"token\":\"t\",\"data\":{\"custom_id\":\"override:5\","
	        "\"components\":[{\"type\":1,\"components\":[{\"type\":4,\"custom_id\":\"new_"
	        "name\","
	        "\"value\":\"cool-chat\"}]}]}}";
	static const char labels[] =
	        "{\"id\":\"1\",\"type\":5,\"token\":\"t\",\"data\":{\"custom_id\":\"override:5\","
	        "\"components\":[{\"type\":10,\"id\":1,\"content\":\"hi\"},{\"type\":18,\"id\":2,"
	        "\"component\":{\"type\":4,\"id\":3,\"custom_id\":\"new_name\","
	        "\"value\":\"label-chat\"}}]}}";
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	struct interaction it;
	char err[100];
	CHECK_INT(interaction_parse(json_parse(&doc, rows, sizeof rows - 1), &it, err, sizeof err),
	          0);
	CHECK_STR(it.name, "override:5");
	CHECK_STR(interaction_modal_value(&it, "new_name"), "cool-chat");
	CHECK(interaction_modal_value(&it, "other") == NULL);
	CHECK_INT(interaction_parse(json_parse(&doc, labels, sizeof labels - 1), &it, err,
	                            sizeof err),
	          0);
	CHECK_STR(interaction_modal_value(&it, "new_name"), "label-chat");
	json_doc_free(&doc);
}

TEST(discord_bad_interactions_are_refused)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	struct interaction it;
	char err[100];
	static const char no_token[] = "{\"id\":\"1\",\"type\":2}";
	CHECK_INT(interaction_parse(json_parse(&doc, no_token, sizeof no_token - 1), &it, err,
	                            sizeof err),
	          -1);
	CHECK(strstr(err, "token"));
	char big[1200];
	snprintf(big, sizeof big,
	         "{\"id\":\"1\",\"type\":3,\"token\":\"t\",\"data\":{\"custom_id\":\"%0*d\"}}", 150,
	         0);
	CHECK_INT(interaction_parse(json_parse(&doc, big, strlen(big)), &it, err, sizeof err), -1);
	CHECK_INT(interaction_parse(NULL, &it, err, sizeof err), -1);
	json_doc_free(&doc);
}

TEST(discord_lengths_count_utf16_units)
{
	CHECK_INT(discord_text_length("abc", 3), 3);
	CHECK_INT(discord_text_length("\xc3\xa9", 2), 1);         /* é */
	CHECK_INT(discord_text_length("\xe2\x82\xac", 3), 1);     /* € */
	CHECK_INT(discord_text_length("\xf0\x9f\x98\x80", 4), 2); /* 😀: a surrogate pair */
	/* a prefix never cuts a character */
	CHECK_INT(discord_text_prefix("a\xf0\x9f\x98\x80", 5, 2), 1);
	CHECK_INT(discord_text_prefix("a\xf0\x9f\x98\x80", 5, 3), 5);
	CHECK_INT(discord_text_prefix("\xc3\xa9\xc3\xa9", 4, 1), 2);
}

TEST(discord_messages_never_mention_and_respect_limits)
{
	struct buf out;
	buf_init(&out, 1 << 20);
	char *long_text = malloc(10001);
	memset(long_text, 'x', 10000);
	long_text[10000] = '\0';
	CHECK_INT(discord_message_json(&out, long_text, NULL, 0, NULL), 0);
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	const struct json_value *m = json_parse(&doc, out.data, out.len);
	size_t len;
	const char *content = json_string(json_get(m, "content"), &len);
	CHECK(content);
	CHECK_INT(discord_text_length(content, len), 2000);
	CHECK(strstr(content, "\xe2\x80\xa6")); /* the cut is marked */
	CHECK_INT(json_len(json_path(m, "allowed_mentions.parse")), 0);
	CHECK(json_path(m, "allowed_mentions.parse") != NULL);
	CHECK(json_get(m, "flags") == NULL);

	/* an embed with everything too long stays within every limit */
	struct discord_field fields[30];
	for (int i = 0; i < 30; i++) {
		fields[i].name = long_text;
		fields[i].value = long_text;
		fields[i].inline_field = i % 2;
	}
	struct discord_embed e = {.title = long_text,
	                          .description = long_text,
	                          .color = 0x5865f2,
	                          .footer = long_text,
	                          .fields = fields,
	                          .field_count = 30};
	CHECK_INT(discord_callback_json(&out, CALLBACK_MESSAGE, "@everyone hi", &e, 1, NULL), 0);
	m = json_parse(&doc, out.data, out.len);
	CHECK_INT(json_path_int64(m, "type", &(int64_t){0}), 0);
	int64_t flags = 0;
	json_path_int64(m, "data.flags", &flags);
	CHECK_INT(flags, DISCORD_FLAG_EPHEMERAL);
	const struct json_value *embed = json_path(m, "data.embeds[0]");
	size_t total = 0;
	const char *t = json_string(json_get(embed, "title"), &len);
	CHECK(t && discord_text_length(t, len) <= 256);
	total += discord_text_length(t, len);
	const char *desc = json_string(json_get(embed, "description"), &len);
	if (desc) {
		CHECK(discord_text_length(desc, len) <= 4096);
		total += discord_text_length(desc, len);
	}
	CHECK(json_len(json_get(embed, "fields")) <= 25);
	for (const struct json_value *f = json_first(json_get(embed, "fields")); f;
	     f = json_next(f)) {
		const char *n = json_string(json_get(f, "name"), &len);
		CHECK(n && len > 0 && discord_text_length(n, len) <= 256);
		total += discord_text_length(n, len);
		const char *v = json_string(json_get(f, "value"), &len);
		CHECK(v && len > 0 && discord_text_length(v, len) <= 1024);
		total += discord_text_length(v, len);
	}
	const char *footer = json_path_str(embed, "footer.text");
	if (footer)
		total += discord_text_length(footer, strlen(footer));
	CHECK(total <= 6000);
	CHECK_INT(json_len(json_path(m, "data.allowed_mentions.parse")), 0);

	/* a defer carries only the flag */
	CHECK_INT(discord_callback_json(&out, CALLBACK_DEFER, NULL, NULL, 1, NULL), 0);
	CHECK_STR(buf_str(&out), "{\"type\":5,\"data\":{\"flags\":64}}");
	free(long_text);
	json_doc_free(&doc);
	buf_free(&out);
}

/* Parses an interaction whose data.options is options_json (a JSON array). */
static int
parse_with_options(struct json_doc *doc, struct interaction *it, const char *options_json)
{
	char text[2048], err[100];
	snprintf(text, sizeof text,
	         "{\"id\":\"1\",\"type\":2,\"token\":\"t\",\"data\":{\"name\":\"view_report\","
	         "\"options\":%s,\"components\":[{\"type\":1,\"components\":[{\"type\":4,"
	         "\"custom_id\":\"why\",\"value\":\"a\\u0000b\"}]},{\"type\":18,\"component\":"
	         "{\"type\":4,\"custom_id\":\"ok\",\"value\":\"fine\"}}]}}",
	         options_json);
	const struct json_value *d = json_parse(doc, text, strlen(text));
	return d ? interaction_parse(d, it, err, sizeof err) : -1;
}

/* Issue 12.6: an id option out of range (0, negative, 2^31 and up, a
 * fraction, an exponent, a non-number) is INVALID, a clear result the
 * command turns into "no such report/proposal" before any query. */
TEST(discord_row_id_options_out_of_range_are_invalid)
{
	static const struct {
		const char *value;
		int want;
		int32_t id;
	} cases[] = {
	        {"1", DISCORD_OPTION_OK, 1},
	        {"42", DISCORD_OPTION_OK, 42},
	        {"2147483647", DISCORD_OPTION_OK, 2147483647},
	        {"\"17\"", DISCORD_OPTION_OK, 17},
	        {"\"2147483647\"", DISCORD_OPTION_OK, 2147483647},
	        {"0", DISCORD_OPTION_INVALID, 0},
	        {"-1", DISCORD_OPTION_INVALID, 0},
	        {"-2147483648", DISCORD_OPTION_INVALID, 0},
	        {"2147483648", DISCORD_OPTION_INVALID, 0},
	        {"4294967297", DISCORD_OPTION_INVALID, 0},
	        {"9007199254740993", DISCORD_OPTION_INVALID, 0},
	        {"99999999999999999999999", DISCORD_OPTION_INVALID, 0},
	        {"1.5", DISCORD_OPTION_INVALID, 0},
	        {"1.0", DISCORD_OPTION_INVALID, 0},
	        {"1e3", DISCORD_OPTION_INVALID, 0},
	        {"\"\"", DISCORD_OPTION_INVALID, 0},
	        {"\"0\"", DISCORD_OPTION_INVALID, 0},
	        {"\"-5\"", DISCORD_OPTION_INVALID, 0},
	        {"\"2147483648\"", DISCORD_OPTION_INVALID, 0},
	        {"\"12abc\"", DISCORD_OPTION_INVALID, 0},
	        {"\" 12\"", DISCORD_OPTION_INVALID, 0},
	        {"\"1\\u00002\"", DISCORD_OPTION_INVALID, 0},
	        {"null", DISCORD_OPTION_ABSENT, 0},
	        {"true", DISCORD_OPTION_ABSENT, 0},
	        {"[1]", DISCORD_OPTION_ABSENT, 0},
	};
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char options[200];
		snprintf(options, sizeof options,
		         "[{\"name\":\"report_id\",\"type\":4,\"value\":%s}]", cases[i].value);
		struct interaction it;
		if (!CHECK_INT(parse_with_options(&doc, &it, options), 0))
			continue;
		int32_t id = -7;
		int got = interaction_option_row_id(&it, "report_id", &id);
		if (!test_check(got == cases[i].want, cases[i].value, __FILE__, __LINE__))
			continue;
		CHECK_INT(id,
		          got == DISCORD_OPTION_OK ? cases[i].id : -7); /* untouched unless OK */
	}
	/* left out entirely */
	struct interaction it;
	int32_t id = -7;
	if (CHECK_INT(parse_with_options(&doc, &it, "[]"), 0))
		CHECK_INT(interaction_option_row_id(&it, "report_id", &id), DISCORD_OPTION_ABSENT);
	json_doc_free(&doc);
}

/* Issue 12.6: a NUL in user text ("\u0000") is reported, with the whole
 * length, so a command refuses it (or stores every byte) instead of
 * cutting the text at the NUL after thanking the user. */
TEST(discord_text_with_nul_is_detected)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	struct interaction it;
	const char *s = NULL;
	size_t len = 99;
	if (!CHECK_INT(parse_with_options(&doc, &it,
	                                  "[{\"name\":\"description\",\"type\":3,\"value\":"
	                                  "\"spam\\u0000 hidden part\"},{\"name\":\"plain\","
	                                  "\"type\":3,\"value\":\"caf\\u00e9\"},{\"name\":\"n\","
	                                  "\"type\":4,\"value\":3}]"),
	               0))
		return;
	CHECK_INT(interaction_option_text(&it, "description", &s, &len), DISCORD_OPTION_INVALID);
	CHECK_INT(len, 17);
	CHECK(s && memcmp(s, "spam\0 hidden part", 17) == 0);
	/* the old getter cuts silently: why callers must use the checked one */
	CHECK_STR(interaction_option_str(&it, "description"), "spam");
	CHECK_INT(interaction_option_text(&it, "plain", &s, &len), DISCORD_OPTION_OK);
	CHECK_STR(s, "caf\xc3\xa9");
	CHECK_INT(len, 5);
	CHECK_INT(interaction_option_text(&it, "n", &s, &len), DISCORD_OPTION_ABSENT);
	CHECK(s == NULL);
	CHECK_INT(len, 0);
	CHECK_INT(interaction_option_text(&it, "missing", &s, &len), DISCORD_OPTION_ABSENT);
	/* modal text inputs, both shapes */
	CHECK_INT(interaction_modal_text(&it, "why", &s, &len), DISCORD_OPTION_INVALID);
	CHECK_INT(len, 3);
	CHECK_INT(interaction_modal_text(&it, "ok", &s, &len), DISCORD_OPTION_OK);
	CHECK_STR(s, "fine");
	CHECK_INT(interaction_modal_text(&it, "nope", &s, &len), DISCORD_OPTION_ABSENT);
	json_doc_free(&doc);
}

/* Issue 9.8: limits are counted in characters (UTF-16 units), buffers in
 * bytes: 1,000 four-byte characters (2,000 units, 4,000 bytes) fill the
 * content limit and arrive whole; a description of 2,048 of them (4,096
 * units, 8,192 bytes) too, and one more is cut with "…" on a character. */
TEST(discord_limits_hold_four_byte_characters_whole)
{
	static const char grin[] = "\xf0\x9f\x98\x80"; /* U+1F600, 2 units */
	struct buf text, body;
	buf_init(&text, 1 << 16);
	buf_init(&body, 1 << 20);
	for (int i = 0; i < 1000; i++)
		buf_append(&text, grin, 4);
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	CHECK_INT(discord_message_json(&body, buf_str(&text), NULL, 0, NULL), 0);
	const struct json_value *root = json_parse(&doc, body.data, body.len);
	size_t len = 0;
	const char *s = json_string(json_get(root, "content"), &len);
	CHECK_INT(len, 4000);
	CHECK(s && strcmp(s, buf_str(&text)) == 0);

	buf_reset(&text);
	for (int i = 0; i < 2048; i++)
		buf_append(&text, grin, 4);
	struct discord_embed e = {.description = buf_str(&text)};
	CHECK_INT(discord_message_json(&body, NULL, &e, 0, NULL), 0);
	root = json_parse(&doc, body.data, body.len);
	s = json_string(json_path(root, "embeds[0].description"), &len);
	CHECK_INT(len, 8192);
	CHECK(s && strcmp(s, buf_str(&text)) == 0);
	buf_append(&text, grin, 4);
	e.description = buf_str(&text);
	CHECK_INT(discord_message_json(&body, NULL, &e, 0, NULL), 0);
	root = json_parse(&doc, body.data, body.len);
	s = json_string(json_path(root, "embeds[0].description"), &len);
	/* 2,047 characters (4,094 units) and the ellipsis (1 unit) */
	CHECK_INT(len, 2047 * 4 + 3);
	CHECK(s && discord_text_length(s, len) == 4095);
	CHECK(s && memcmp(s + 2047 * 4, "\xe2\x80\xa6", 3) == 0);
	json_doc_free(&doc);
	buf_free(&text);
	buf_free(&body);
}

/* The member's shown name (nick, then global_name, then username; the
 * proposals' autocomplete) and the focused option of an autocomplete. */
TEST(discord_user_name_and_focused_option)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	struct interaction it;
	char err[100];
	static const struct {
		const char *json, *want;
	} cases[] = {
	        {"{\"id\":\"1\",\"type\":4,\"token\":\"t\",\"member\":{\"nick\":\"Bobby\","
	         "\"user\":"
	         "{"
	         "\"id\":\"5\",\"username\":\"bob\",\"global_name\":\"Bob "
	         "B\"}},\"data\":{\"name\":"
	         "\"approve_proposal\",\"options\":[{\"name\":\"proposal_id\",\"type\":4,"
	         "\"value\":"
	         "\"12\",\"focused\":true}]}}",
	         "Bobby"},
	        {"{\"id\":\"1\",\"type\":2,\"token\":\"t\",\"member\":{\"nick\":null,"
	         "\"user\":{"
	         "\"id\":"
	         "\"5\",\"username\":\"bob\",\"global_name\":\"Bob B\"}}}",
	         "Bob B"},
	        {"{\"id\":\"1\",\"type\":2,\"token\":\"t\",\"user\":{\"id\":\"5\","
	         "\"username\":"
	         "\"bob\"}}",
	         "bob"},
	        {"{\"id\":\"1\",\"type\":2,\"token\":\"t\",\"user\":{\"id\":\"5\"}}", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct json_value *d = json_parse(&doc, cases[i].json, strlen(cases[i].json));
		CHECK_INT(interaction_parse(d, &it, err, sizeof err), 0);
		CHECK_STR(it.user_name, cases[i].want);
		if (i == 0)
			CHECK_STR(interaction_focused_text(&it), "12");
		else
			CHECK_STR(interaction_focused_text(&it), "");
	}
	json_doc_free(&doc);
}
