/* test_json_scan.c — the DOM-free scanner (json.h, scanning): members of
 * an object as raw spans, the span readers, and the message head read
 * from a MESSAGE_CREATE with it (discord.h). Every case that json_parse
 * also reads is checked against it: the scanner must find what json_get
 * finds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discord.h"
#include "json.h"
#include "mem.h"
#include "test.h"

#define MESSAGE_CREATE "tests/data/json/valid/y_discord_message_create.json"

/* The first member named key in the object text, by the scanner: 0 with
 * *out set (p NULL when absent), or -1 when the scan fails. */
static int
scan_one(const char *text, const char *key, struct json_span *out)
{
	struct json_scan_field f = {key, strlen(key), {NULL, 0}};
	int r = json_scan_fields(text, strlen(text), &f, 1, 0);
	*out = f.value;
	return r;
}

/* 1 when the span parses to the same value json_get finds for key in
 * text (both absent counts as the same). */
static int
same_as_dom(const char *text, const char *key)
{
	struct json_doc a, b;
	json_doc_init(&a, 1 << 20);
	json_doc_init(&b, 1 << 20);
	const struct json_value *root = json_parse(&a, text, strlen(text));
	const struct json_value *want = json_get(root, key);
	struct json_span got;
	int ok = root && scan_one(text, key, &got) == 0;
	if (ok && !want)
		ok = got.p == NULL;
	else if (ok)
		ok = got.p && json_equal(json_parse(&b, got.p, got.len), want);
	json_doc_free(&a);
	json_doc_free(&b);
	return ok;
}

/* 1 when json_scan_paths finds, for each path, what json_path finds in
 * the parsed text (both absent counts as the same). */
static int
paths_as_dom(const char *text, const char *const *paths, size_t n)
{
	struct json_scan_path p[JSON_SCAN_PATHS_MAX];
	struct json_doc a, b;
	json_doc_init(&a, 1 << 20);
	json_doc_init(&b, 1 << 20);
	const struct json_value *root = json_parse(&a, text, strlen(text));
	for (size_t i = 0; i < n; i++)
		p[i].path = paths[i];
	int ok = root && json_scan_paths(text, strlen(text), p, n) == 0;
	for (size_t i = 0; ok && i < n; i++) {
		const struct json_value *want = json_path(root, paths[i]);
		if (!want)
			ok = p[i].value.p == NULL;
		else
			ok = p[i].value.p &&
			     json_equal(json_parse(&b, p[i].value.p, p[i].value.len), want);
		if (!ok)
			fprintf(stderr, "  path %s differs in %.80s\n", paths[i], text);
	}
	json_doc_free(&a);
	json_doc_free(&b);
	return ok;
}

/* The span's text as a string, for CHECK_STR (static buffer). */
static const char *
span_text(struct json_span s)
{
	static char out[256];
	if (!s.p)
		return "(absent)";
	snprintf(out, sizeof out, "%.*s", (int)s.len, s.p);
	return out;
}

TEST(json_scan_finds_members_as_raw_spans)
{
	const char *text = "{\"op\":0,\"t\":\"MESSAGE_CREATE\",\"s\":42,\"d\":{\"id\":\"7\"},"
	                   "\"x\":[1,2.5e-3,true,false,null,\"s\"]}";
	struct json_scan_field f[] = {
	        {"d", 1, {NULL, 0}}, {"op", 2, {NULL, 0}}, {"t", 1, {NULL, 0}},
	        {"s", 1, {NULL, 0}}, {"x", 1, {NULL, 0}},  {"nope", 4, {NULL, 0}},
	};
	CHECK_INT(json_scan_fields(text, strlen(text), f, 6, 0), 0);
	CHECK_STR(span_text(f[0].value), "{\"id\":\"7\"}");
	CHECK_STR(span_text(f[1].value), "0");
	CHECK_STR(span_text(f[2].value), "\"MESSAGE_CREATE\"");
	CHECK_STR(span_text(f[3].value), "42");
	CHECK_STR(span_text(f[4].value), "[1,2.5e-3,true,false,null,\"s\"]");
	CHECK(f[5].value.p == NULL);
	/* the spans point into the text, nothing is copied */
	CHECK(f[0].value.p > text && f[0].value.p < text + strlen(text));
	for (int i = 0; i < 5; i++)
		CHECK(same_as_dom(text, f[i].key));
	CHECK(same_as_dom(text, "nope"));

	/* the iterator gives every member in order, then 0 (and 0 again) */
	struct json_scan s;
	struct json_span k, v;
	int n = 0;
	CHECK_INT(json_scan_begin(&s, text, strlen(text)), 0);
	while (json_scan_next(&s, &k, &v) == 1)
		n++;
	CHECK_INT(n, 5);
	CHECK_INT(json_scan_next(&s, &k, &v), 0);
	CHECK_INT(json_scan_next(&s, &k, &v), 0);
	/* empty objects */
	CHECK_INT(json_scan_fields("{}", 2, f, 1, 0), 0);
	CHECK(f[0].value.p == NULL);
	CHECK_INT(json_scan_fields(" \n{ \t}\r\n", 8, f, 1, 0), 0);
}

TEST(json_scan_escapes_before_the_closing_quote)
{
	/* a string ending in an escaped backslash ends at the next quote;
	 * an escaped quote does not end it */
	static const char *const cases[] = {
	        "{\"a\":\"x\\\\\",\"b\":1}",        /* "x\\" */
	        "{\"a\":\"x\\\"\",\"b\":1}",        /* "x\"" */
	        "{\"a\":\"\\\\\\\"\",\"b\":1}",     /* "\\\"" */
	        "{\"a\":\"\\\\\\\\\",\"b\":1}",     /* "\\\\" */
	        "{\"a\":\"\\\"b\\\":2,\",\"b\":1}", /* a key-like text inside */
	        "{\"a\":\"\\u0022\\/\\b\\f\\n\\r\\t\",\"b\":1}",
	        "{\"a\":\"0123456789abcdef0123456789\\\\\",\"b\":1}", /* past one block */
	        "{\"a\":\"\xc3\xa9\xf0\x9f\x98\x80 non-ASCII \xe2\x82\xac 0123456789\",\"b\":1}",
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct json_span v;
		CHECK_INT(scan_one(cases[i], "b", &v), 0);
		CHECK_STR(span_text(v), "1");
		CHECK(same_as_dom(cases[i], "a"));
		CHECK(same_as_dom(cases[i], "b"));
	}
	/* keys are compared decoded, as json_get does */
	CHECK(same_as_dom("{\"\\u0069d\":\"3\",\"id\":\"4\"}", "id"));
	struct json_span v;
	CHECK_INT(scan_one("{\"\\u0069d\":\"3\",\"id\":\"4\"}", "id", &v), 0);
	CHECK_STR(span_text(v), "\"3\"");
	CHECK_INT(scan_one("{\"i\\\\d\":1,\"id\":2}", "i\\\\d", &v), 0); /* raw i\\d is i\d */
	CHECK(v.p == NULL);
	CHECK_INT(scan_one("{\"i\\\\d\":1,\"id\":2}", "i\\d", &v), 0);
	CHECK_STR(span_text(v), "1");
	CHECK(same_as_dom("{\"\\ud83d\\ude00\":1,\"\\ud800\":2}", "\xf0\x9f\x98\x80"));
	CHECK(same_as_dom("{\"\\ud83d\\ude00\":1,\"\\ud800\":2}", "\xef\xbf\xbd"));
	CHECK(same_as_dom("{\"a\\u0000b\":1}", "a"));
}

TEST(json_scan_skips_nested_values_whole)
{
	/* members named like the wanted one, deeper down, are not it */
	const char *text = "{\"x\":{\"id\":\"9\",\"y\":[{\"id\":1},[[],{}],{\"a\":{\"id\":2}}]},"
	                   "\"z\":[[[\"id\"]]],\"id\":\"5\",\"w\":{}}";
	struct json_span v;
	CHECK_INT(scan_one(text, "id", &v), 0);
	CHECK_STR(span_text(v), "\"5\"");
	CHECK(same_as_dom(text, "x"));
	CHECK(same_as_dom(text, "z"));
	CHECK(same_as_dom(text, "w"));
	/* the first of duplicate keys wins, as json_get */
	CHECK_INT(scan_one("{\"id\":\"1\",\"id\":\"2\"}", "id", &v), 0);
	CHECK_STR(span_text(v), "\"1\"");
	CHECK(same_as_dom("{\"id\":\"1\",\"id\":\"2\"}", "id"));
	CHECK(same_as_dom("{\"a\":[1],\"b\":{},\"a\":{\"c\":2}}", "a"));
	/* stopping early still gives the first */
	struct json_scan_field f = {"id", 2, {NULL, 0}};
	const char *dup = "{\"id\":1,\"id\":2,";
	CHECK_INT(json_scan_fields(dup, strlen(dup), &f, 1, JSON_SCAN_STOP_EARLY), 0);
	CHECK_STR(span_text(f.value), "1");
	CHECK_INT(json_scan_fields(dup, strlen(dup), &f, 1, 0), -1); /* read whole: bad */
}

TEST(json_scan_whitespace_everywhere)
{
	const char *text = " \t\r\n{ \n\"id\" \r:\t\"7\" ,\n \"a\" : [ 1 , { \"b\" : [ ] } , "
	                   "\"c\" ] , \"t\" :true\n}\t \n";
	struct json_span v;
	CHECK_INT(scan_one(text, "id", &v), 0);
	CHECK_STR(span_text(v), "\"7\"");
	CHECK(same_as_dom(text, "a"));
	CHECK(same_as_dom(text, "t"));
	/* only RFC 8259's four: a form feed or a vertical tab is not */
	CHECK_INT(scan_one("{\f\"id\":1}", "id", &v), -1);
	CHECK_INT(scan_one("{\"id\":1}\v", "id", &v), -1);
	CHECK_INT(scan_one("{\"id\":[1,\f2]}", "id", &v), -1);
}

TEST(json_scan_refuses_malformed_text)
{
	static const char *const bad[] = {
	        "",
	        "   ",
	        "[1]",
	        "\"id\"",
	        "{",
	        "{\"id\"",
	        "{\"id\":",
	        "{\"id\":1",
	        "{\"id\":1,}",
	        "{\"id\":[1,]}",
	        "{\"id\" 1}",
	        "{id:1}",
	        "{\"id\":1 \"b\":2}",
	        "{\"id\":1}}",
	        "{\"id\":1} x",
	        "{\"id\":1}{}",
	        "{\"id\":01}",
	        "{\"id\":-}",
	        "{\"id\":1.}",
	        "{\"id\":.5}",
	        "{\"id\":1e}",
	        "{\"id\":+1}",
	        "{\"id\":tru}",
	        "{\"id\":nul}",
	        "{\"id\":True}",
	        "{\"id\":\"abc}",
	        "{\"id\":\"a\\x\"}",
	        "{\"id\":\"a\\u12\"}",
	        "{\"id\":\"a\\u12g4\"}",
	        "{\"id\":\"tab\there\"}",
	        "{\"id\":\"a\nb\"}",
	        "{\"id\":[1}",
	        "{\"id\":{\"a\":1]}",
	        "{\"id\":{1:2}}",
	        "{\"id\":{\"a\"}}",
	        "{\"id\":[1 2]}",
	        "{,\"id\":1}",
	};
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct json_span v;
		int r = scan_one(bad[i], "id", &v);
		if (!CHECK_INT(r, -1))
			fprintf(stderr, "  scanned: %s\n", bad[i]);
		/* the DOM parser refuses each as an object too */
		const struct json_value *root = json_parse(&doc, bad[i], strlen(bad[i]));
		CHECK(!root || json_type(root) != JSON_OBJECT);
		size_t pos = 0;
		if (root && json_type(root) != JSON_OBJECT)
			CHECK_INT(json_scan_skip(bad[i], strlen(bad[i]), &pos), 0);
	}
	/* the iterator stays failed and says where */
	struct json_scan s;
	struct json_span k, v;
	const char *text = "{\"a\":1,\"b\":tru}";
	CHECK_INT(json_scan_begin(&s, text, strlen(text)), 0);
	CHECK_INT(json_scan_next(&s, &k, &v), 1);
	CHECK_INT(json_scan_next(&s, &k, &v), -1);
	CHECK(s.error != NULL);
	CHECK_INT(s.error_offset, 11);
	CHECK_INT(json_scan_next(&s, &k, &v), -1);
	json_doc_free(&doc);
}

/* "{"a": [[[...1...]]]}" with `levels` arrays inside the object. */
static char *
nested(int levels, char open, char close)
{
	char *t = malloc((size_t)levels * 6 + 16);
	size_t n = 0;
	memcpy(t, "{\"a\":", 5);
	n = 5;
	for (int i = 0; i < levels; i++)
		t[n++] = open;
	if (open == '{') {
		/* {"a":{"a":{...{}...}}}: keys inside each object */
		n = 5;
		for (int i = 0; i < levels; i++) {
			memcpy(t + n, i + 1 < levels ? "{\"a\":" : "{", i + 1 < levels ? 5 : 1);
			n += i + 1 < levels ? 5 : 1;
		}
	} else {
		t[n++] = '1';
	}
	for (int i = 0; i < levels; i++)
		t[n++] = close;
	t[n++] = '}';
	t[n] = '\0';
	return t;
}

TEST(json_scan_depth_limit_is_the_parsers)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	/* the object counts as one level: 63 more inside are allowed */
	for (int levels = JSON_MAX_DEPTH - 3; levels <= JSON_MAX_DEPTH + 2; levels++) {
		for (int kind = 0; kind < 2; kind++) {
			char *t = kind ? nested(levels, '{', '}') : nested(levels, '[', ']');
			int dom = json_parse(&doc, t, strlen(t)) != NULL;
			struct json_span v;
			int r = scan_one(t, "a", &v);
			CHECK_INT(dom, levels <= JSON_MAX_DEPTH - 1);
			CHECK_INT(r, dom ? 0 : -1);
			free(t);
		}
	}
	/* far deeper: refused, no stack used per level */
	size_t n = 100000;
	char *t = malloc(n + 8);
	memcpy(t, "{\"a\":", 5);
	memset(t + 5, '[', n - 5);
	t[n] = '\0';
	struct json_span v;
	CHECK_INT(scan_one(t, "a", &v), -1);
	size_t pos = 5;
	CHECK_INT(json_scan_skip(t, n, &pos), -1);
	free(t);
	/* json_scan_skip alone: 64 levels at the top */
	char top[2 * JSON_MAX_DEPTH + 4];
	memset(top, '[', JSON_MAX_DEPTH);
	memset(top + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
	pos = 0;
	CHECK_INT(json_scan_skip(top, 2 * JSON_MAX_DEPTH, &pos), 0);
	CHECK_INT(pos, 2 * JSON_MAX_DEPTH);
	json_doc_free(&doc);
}

TEST(json_scan_truncated_at_every_offset)
{
	size_t len;
	char *text = test_read_file(MESSAGE_CREATE, &len);
	if (!CHECK(text != NULL))
		return;
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	CHECK(json_parse(&doc, text, len) != NULL);
	size_t whole_ok = 0;
	for (size_t n = 0; n <= len; n++) {
		/* a buffer of exactly n bytes: ASan sees any read past it */
		char *cut = malloc(n ? n : 1);
		memcpy(cut, text, n);
		struct json_scan_field f[] = {
		        {"t", 1, {NULL, 0}}, {"s", 1, {NULL, 0}}, {"d", 1, {NULL, 0}}};
		int r = json_scan_fields(cut, n, f, 3, 0);
		int dom = json_parse(&doc, cut, n) != NULL;
		CHECK_INT(r, dom ? 0 : -1);
		whole_ok += r == 0;
		size_t pos = 0;
		CHECK_INT(json_scan_skip(cut, n, &pos), dom ? 0 : -1);
		/* the spans found before the cut are still whole values */
		if (f[2].value.p) {
			struct discord_message_head m;
			(void)discord_message_head_scan(f[2].value.p, f[2].value.len, &m);
		}
		free(cut);
	}
	/* the whole text, and the text without its trailing newline */
	CHECK(whole_ok >= 1 && whole_ok <= 2);
	json_doc_free(&doc);
	free(text);
}

TEST(json_scan_agrees_with_the_parser_on_the_test_data)
{
	struct test_files list;
	if (!CHECK(test_files("tests/data/json/valid", &list) == 0))
		return;
	struct json_doc a, b;
	json_doc_init(&a, 1 << 22);
	json_doc_init(&b, 1 << 22);
	int objects = 0;
	for (size_t i = 0; i < list.count; i++) {
		size_t len;
		char *text = test_read_file(list.paths[i], &len);
		const struct json_value *root = text ? json_parse(&a, text, len) : NULL;
		if (!CHECK(root))
			continue;
		size_t pos = 0;
		CHECK_INT(json_scan_skip(text, len, &pos), 0);
		if (json_type(root) == JSON_OBJECT) {
			objects++;
			/* every member, by key, against json_get */
			struct json_scan s;
			struct json_span k, v;
			CHECK_INT(json_scan_begin(&s, text, len), 0);
			const struct json_value *m = json_first(root);
			int r;
			while ((r = json_scan_next(&s, &k, &v)) == 1 && CHECK(m)) {
				size_t key_len;
				const char *key = json_key(m, &key_len);
				CHECK(json_span_key_is(k, key, key_len));
				CHECK(json_equal(json_parse(&b, v.p, v.len), m));
				struct json_scan_field f = {key, key_len, {NULL, 0}};
				CHECK_INT(json_scan_fields(text, len, &f, 1, 0), 0);
				CHECK(json_equal(json_parse(&b, f.value.p, f.value.len),
				                 json_getn(root, key, key_len)));
				m = json_next(m);
			}
			CHECK_INT(r, 0);
			CHECK(m == NULL);
		}
		free(text);
	}
	CHECK(objects >= 10);
	test_files_free(&list);
	json_doc_free(&a);
	json_doc_free(&b);
}

/* json_span_id and json_id on the same text agree; returns json_span_id's
 * answer, the value in *out. */
static int
span_id(const char *value, uint64_t *out)
{
	char text[128];
	snprintf(text, sizeof text, "{\"v\":%s}", value);
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	uint64_t dom_id = 0, id = 0;
	int dom = json_id(json_get(json_parse(&doc, text, strlen(text)), "v"), &dom_id);
	struct json_span v;
	CHECK_INT(scan_one(text, "v", &v), 0);
	int r = json_span_id(v, &id);
	CHECK_INT(r, dom);
	if (r == 0 && dom == 0)
		CHECK(id == dom_id);
	json_doc_free(&doc);
	*out = id;
	return r;
}

TEST(json_span_readers_follow_the_dom_accessors)
{
	uint64_t id;
	CHECK_INT(span_id("\"1310561843356889108\"", &id), 0);
	CHECK(id == 1310561843356889108ull);
	CHECK_INT(span_id("1310561843356889108", &id), 0);
	CHECK(id == 1310561843356889108ull);
	CHECK_INT(span_id("\"18446744073709551615\"", &id), 0);
	CHECK(id == UINT64_MAX);
	CHECK_INT(span_id("18446744073709551615", &id), 0);
	CHECK_INT(span_id("\"18446744073709551616\"", &id), -1);
	CHECK_INT(span_id("18446744073709551616", &id), -1);
	CHECK_INT(span_id("\"000000000000000000000000000000001\"", &id), 0); /* json_id's rule */
	CHECK(id == 1);
	CHECK_INT(span_id("\"\\u0031\\u0032\"", &id), 0);
	CHECK(id == 12);
	CHECK_INT(span_id("\"0\"", &id), 0);
	CHECK_INT(span_id("-0", &id), 0);
	CHECK_INT(span_id("\"-0\"", &id), -1);
	CHECK_INT(span_id("\"-1\"", &id), -1);
	CHECK_INT(span_id("-1", &id), -1);
	CHECK_INT(span_id("1.0", &id), -1);
	CHECK_INT(span_id("1e3", &id), -1);
	CHECK_INT(span_id("\"\"", &id), -1);
	CHECK_INT(span_id("\"12a\"", &id), -1);
	CHECK_INT(span_id("\" 12\"", &id), -1);
	CHECK_INT(span_id("null", &id), -1);
	CHECK_INT(span_id("true", &id), -1);
	CHECK_INT(span_id("{}", &id), -1);
	CHECK_INT(span_id("[\"1\"]", &id), -1);

	/* booleans, integers, strings */
	struct json_span t = {"true", 4}, f = {"false", 5}, n = {"null", 4}, absent = {NULL, 0};
	CHECK_INT(json_span_bool(t), 1);
	CHECK_INT(json_span_bool(f), 0);
	CHECK_INT(json_span_bool(n), -1);
	CHECK_INT(json_span_bool(absent), -1);
	CHECK_INT(json_span_bool((struct json_span){"truex", 5}), -1);
	CHECK_INT(json_span_type(absent), JSON_NONE);
	CHECK_INT(json_span_type(n), JSON_NULL);
	int64_t i;
	CHECK_INT(json_span_int64((struct json_span){"-9223372036854775808", 20}, &i), 0);
	CHECK(i == INT64_MIN);
	CHECK_INT(json_span_int64((struct json_span){"9223372036854775808", 19}, &i), -1);
	CHECK_INT(json_span_int64((struct json_span){"12 ", 3}, &i), -1);
	CHECK_INT(json_span_int64((struct json_span){"012", 3}, &i), -1);
	CHECK_INT(json_span_int64(absent, &i), -1);
	char out[16];
	size_t len;
	const char *st = "\"a\\u00e9\\ud83d\\ude00\\ud800\"";
	struct json_span s = {st, strlen(st)};
	CHECK_INT(json_span_string(s, out, sizeof out, &len), 0);
	CHECK_STR(out, "a\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbd");
	CHECK_INT(len, 10);
	CHECK_INT(json_span_string(s, out, 10, &len), -1); /* no room for the NUL */
	CHECK_INT(json_span_string(s, out, 11, &len), 0);
	CHECK_INT(json_span_string((struct json_span){"\"\xff\"", 3}, out, sizeof out, &len), -1);
	CHECK_INT(json_span_string((struct json_span){"\"ab\"c", 5}, out, sizeof out, &len), -1);
	CHECK_INT(json_span_string((struct json_span){"\"ab", 3}, out, sizeof out, &len), -1);
	CHECK_INT(json_span_string((struct json_span){"\"a\\", 3}, out, sizeof out, &len), -1);
	CHECK_INT(json_span_string(absent, out, sizeof out, &len), -1);
}

TEST(json_scan_allocates_nothing)
{
	size_t len;
	char *text = test_read_file(MESSAGE_CREATE, &len);
	if (!CHECK(text != NULL))
		return;
	unsigned long long before = mem_allocations();
	long found = 0;
	for (int i = 0; i < 1000; i++) {
		struct json_scan_field f[] = {{"d", 1, {NULL, 0}}};
		struct discord_message_head m;
		if (json_scan_fields(text, len, f, 1, 0) == 0 &&
		    discord_message_head_scan(f[0].value.p, f[0].value.len, &m) == 0)
			found++;
	}
	CHECK_INT(found, 1000);
	CHECK_INT(mem_allocations() - before, 0);
	free(text);
}

TEST(discord_message_head_reads_what_counting_needs)
{
	size_t len;
	char *text = test_read_file(MESSAGE_CREATE, &len);
	if (!CHECK(text != NULL))
		return;
	struct json_scan_field f[] = {{"d", 1, {NULL, 0}}};
	CHECK_INT(json_scan_fields(text, len, f, 1, 0), 0);
	struct discord_message_head m;
	CHECK_INT(discord_message_head_scan(f[0].value.p, f[0].value.len, &m), 0);
	CHECK(m.id == 1310561843356889108ull);
	CHECK(m.channel_id == 1087654321098765432ull);
	CHECK(m.guild_id == 1012345678901234567ull);
	/* author.id, not mentions[0].id nor the attachment's */
	CHECK(m.author_id == 412345678901234567ull);
	CHECK_INT(m.author_bot, 0);
	free(text);

	static const struct {
		const char *d;
		int r, bot;
	} cases[] = {
	        {"{\"id\":\"1\",\"channel_id\":\"2\",\"author\":{\"id\":\"3\",\"bot\":true}}", 0,
	         1},
	        {"{\"author\":{\"bot\":false,\"id\":\"3\"},\"channel_id\":2,\"id\":1}", 0, 0},
	        {"{\"id\":\"1\",\"channel_id\":\"2\",\"author\":{\"bot\":\"true\"}}", 0, 0},
	        {"{\"id\":\"1\",\"channel_id\":\"2\",\"author\":null}", 0, 0},
	        {"{\"id\":\"1\",\"channel_id\":\"2\",\"author\":[{\"bot\":true}]}", 0, 0},
	        {"{\"id\":\"1\",\"channel_id\":\"2\",\"member\":{\"bot\":true}}", 0, 0},
	        {"{\"id\":\"1\",\"channel_id\":\"2\",\"author\":{\"bot\":true,\"bot\":false}}", 0,
	         1},
	        {"{\"id\":\"1\"}", -1, 0},
	        {"{\"channel_id\":\"2\"}", -1, 0},
	        {"{\"id\":null,\"channel_id\":\"2\"}", -1, 0},
	        {"{\"id\":\"x\",\"channel_id\":\"2\"}", -1, 0},
	        {"[{\"id\":\"1\",\"channel_id\":\"2\"}]", -1, 0},
	        {"", -1, 0},
	};
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		CHECK_INT(discord_message_head_scan(cases[i].d, strlen(cases[i].d), &m),
		          cases[i].r);
		if (cases[i].r == 0) {
			CHECK(m.id == 1 && m.channel_id == 2 && m.guild_id == 0);
			CHECK_INT(m.author_bot, cases[i].bot);
			/* the DOM rule it replaces (scores_counts_message) */
			const struct json_value *d =
			        json_parse(&doc, cases[i].d, strlen(cases[i].d));
			CHECK_INT(m.author_bot, json_bool(json_path(d, "author.bot")) == 1);
		}
	}
	json_doc_free(&doc);
}

TEST(json_scan_paths_find_what_json_path_finds)
{
	size_t len;
	char *text = test_read_file(MESSAGE_CREATE, &len);
	if (!CHECK(text != NULL))
		return;
	static const char *const paths[] = {
	        "op",
	        "s",
	        "t",
	        "d",
	        "d.id",
	        "d.channel_id",
	        "d.guild_id",
	        "d.author.bot",
	        "d.author.id",
	        "d.author",
	        "d.member.nick",
	        "d.mentions",
	        "d.embeds",
	        "d.nope",
	        "d.id.x",
	        "nope.id",
	};
	char *z = malloc(len + 1); /* paths_as_dom wants a string */
	memcpy(z, text, len);
	z[len] = '\0';
	CHECK(paths_as_dom(z, paths, 16));
	struct json_scan_path p[4] = {{"d.author.id", {NULL, 0}},
	                              {"d.id", {NULL, 0}},
	                              {"d.author.bot", {NULL, 0}},
	                              {"d.mentions.id", {NULL, 0}}};
	CHECK_INT(json_scan_paths(text, len, p, 4), 0);
	CHECK_STR(span_text(p[0].value), "\"412345678901234567\"");
	CHECK_STR(span_text(p[1].value), "\"1310561843356889108\"");
	CHECK(p[2].value.p == NULL);
	CHECK(p[3].value.p == NULL); /* an array on the way: no [N] here */
	free(z);
	free(text);

	/* the first of duplicates at every step, as json_get */
	static const char *const dup[] = {"d.id", "d", "d.a.b", "x.y"};
	CHECK(paths_as_dom("{\"d\":{\"id\":1},\"d\":{\"id\":2}}", dup, 2));
	CHECK(paths_as_dom("{\"d\":5,\"d\":{\"id\":2}}", dup, 2));
	CHECK(paths_as_dom("{\"d\":[{\"id\":2}],\"d\":{\"id\":3}}", dup, 2));
	CHECK(paths_as_dom("{\"d\":{\"id\":1,\"id\":2,\"a\":{\"b\":3,\"b\":4},\"a\":{\"b\":5}}}",
	                   dup, 3));
	CHECK(paths_as_dom("{\"x\":{\"z\":1},\"x\":{\"y\":2}}", dup + 3, 1));
	CHECK(paths_as_dom("{\"\\u0064\":{\"i\\u0064\":7},\"d\":{\"id\":8}}", dup, 2));
	struct json_scan_path one = {"x.y", {NULL, 0}};
	CHECK_INT(json_scan_paths("{\"x\":{\"z\":1},\"x\":{\"y\":2}}", 25, &one, 1), 0);
	CHECK(one.value.p == NULL); /* the second x is not looked into */
	/* a path and its prefix together, and the same path twice */
	static const char *const both[] = {"a", "a.b", "a.b", "a.b.c"};
	CHECK(paths_as_dom(" { \"a\" : { \"b\" : { \"c\" : [ true ] } } } ", both, 4));

	/* the whole text is checked, inside the paths and out */
	static const char *const bad[] = {
	        "{\"d\":{\"id\":1,}}", "{\"d\":{\"id\":1}",   "{\"d\":{\"id\":1}}x",
	        "{\"d\":{\"id\" 1}}",  "{\"d\":{\"id\":01}}", "{\"e\":[1,],\"d\":{}}",
	        "{\"d\":{id:1}}",      "[{\"d\":1}]",         "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct json_scan_path q = {"d.id", {NULL, 0}};
		CHECK_INT(json_scan_paths(bad[i], strlen(bad[i]), &q, 1), -1);
	}
	/* too many paths; a path deeper than the bound is simply not found */
	struct json_scan_path many[JSON_SCAN_PATHS_MAX + 1];
	for (size_t i = 0; i <= JSON_SCAN_PATHS_MAX; i++)
		many[i].path = "a";
	CHECK_INT(json_scan_paths("{\"a\":1}", 7, many, JSON_SCAN_PATHS_MAX + 1), -1);
	CHECK_INT(json_scan_paths("{\"a\":1}", 7, many, JSON_SCAN_PATHS_MAX), 0);
	CHECK_STR(span_text(many[JSON_SCAN_PATHS_MAX - 1].value), "1");
	struct json_scan_path deep = {"a.a.a.a.a.a.a.a.a", {NULL, 0}};
	char *t = nested(9, '{', '}');
	CHECK_INT(json_scan_paths(t, strlen(t), &deep, 1), 0);
	CHECK(deep.value.p == NULL);
	free(t);
}

TEST(json_scan_paths_depth_limit_is_the_parsers)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	/* descending along the path and skipping below it: both bounded as
	 * json_parse is */
	for (int levels = JSON_MAX_DEPTH - 3; levels <= JSON_MAX_DEPTH + 2; levels++) {
		char *t = nested(levels, '{', '}');
		int dom = json_parse(&doc, t, strlen(t)) != NULL;
		struct json_scan_path p[2] = {{"a.a.a.a.a.a.a", {NULL, 0}}, {"a", {NULL, 0}}};
		CHECK_INT(json_scan_paths(t, strlen(t), p, 2), dom ? 0 : -1);
		free(t);
	}
	json_doc_free(&doc);
}

TEST(json_scan_paths_truncated_at_every_offset)
{
	size_t len;
	char *text = test_read_file(MESSAGE_CREATE, &len);
	if (!CHECK(text != NULL))
		return;
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	for (size_t n = 0; n <= len; n++) {
		char *cut = malloc(n ? n : 1); /* exactly n bytes: ASan sees overreads */
		memcpy(cut, text, n);
		struct json_scan_path p[] = {
		        {"d.author.bot", {NULL, 0}}, {"d.id", {NULL, 0}}, {"s", {NULL, 0}}};
		int dom = json_parse(&doc, cut, n) != NULL;
		CHECK_INT(json_scan_paths(cut, n, p, 3), dom ? 0 : -1);
		free(cut);
	}
	json_doc_free(&doc);
	free(text);
}
