/* test_json.c — the JSON parser (strictness, DOM, arena reuse, limits,
 * allocation failures) and the writer (escaping, structure, round trips). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "mem.h"
#include "test.h"

#define MESSAGE_CREATE "tests/data/json/valid/y_discord_message_create.json"

/* Parses every file in dir; files named y_* must parse, n_* must not, and a
 * failure must carry an "offset N:" message. Returns the number of files. */
static int
check_data_dir(const char *dir, int want_valid)
{
	struct test_files list;
	if (!CHECK(test_files(dir, &list) == 0))
		return 0;
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	int files = 0;
	for (size_t i = 0; i < list.count; i++) {
		const char *path = list.paths[i];
		size_t len;
		char *text = test_read_file(path, &len);
		if (!CHECK(text != NULL))
			continue;
		CHECK(list.names[i][0] == (want_valid ? 'y' : 'n'));
		const struct json_value *root = json_parse(&doc, text, len);
		if (want_valid && !root) {
			char msg[700];
			snprintf(msg, sizeof msg, "%s should parse: %s", path,
			         json_doc_error(&doc));
			test_check(0, msg, __FILE__, __LINE__);
		} else if (!want_valid && root) {
			char msg[600];
			snprintf(msg, sizeof msg, "%s should be rejected", path);
			test_check(0, msg, __FILE__, __LINE__);
		} else if (!want_valid) {
			CHECK(strncmp(json_doc_error(&doc), "offset ", 7) == 0);
			CHECK(json_doc_error_offset(&doc) <= len);
		}
		free(text);
		files++;
	}
	test_files_free(&list);
	json_doc_free(&doc);
	return files;
}

TEST(json_accepts_every_valid_case)
{
	CHECK(check_data_dir("tests/data/json/valid", 1) >= 50);
}

TEST(json_rejects_every_invalid_case)
{
	CHECK(check_data_dir("tests/data/json/invalid", 0) >= 70);
}

/* Parses text (NUL-terminated for the test's convenience) in doc. */
static const struct json_value *
parse(struct json_doc *doc, const char *text)
{
	return json_parse(doc, text, strlen(text));
}

TEST(json_error_messages_name_the_offset)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
	        {"", "offset 0: unexpected end of text, expected a value"},
	        {"[1,]", "offset 3: trailing comma"},
	        {"{\"a\":1,}", "offset 7: trailing comma"},
	        {"[01]", "offset 2: leading zeros are not allowed"},
	        {"[1 2]", "offset 3: expected ',' or ']'"},
	        {"{\"a\" 1}", "offset 5: expected ':' after the key"},
	        {"[\"\\ud800\\u12\"]", "offset 8: \\u must be followed by four hex digits"},
	        {"[\"ab\\q\"]", "offset 4: invalid escape in string"},
	        {"[\"a\nb\"]", "offset 3: control character in string (must be escaped)"},
	        {"[\"ab\xc3\x28\"]", "offset 4: invalid UTF-8 in string"},
	        {"[1] x", "offset 4: unexpected text after the value"},
	        {"[\"abc", "offset 1: unterminated string"},
	        {"{1:2}", "offset 1: expected a string key"},
	        {"[1.]", "offset 3: expected a digit after the decimal point"},
	        {"[1e+]", "offset 4: expected a digit in the exponent"},
	        {"[-]", "offset 2: expected a digit"},
	        {"nul", "offset 0: expected a value"},
	};
	struct json_doc doc;
	json_doc_init(&doc, 1000);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(parse(&doc, cases[i].text) == NULL);
		CHECK_STR(json_doc_error(&doc), cases[i].error);
	}
	/* a good parse clears the error */
	CHECK(parse(&doc, "[]") != NULL);
	CHECK_STR(json_doc_error(&doc), "");
	json_doc_free(&doc);
}

TEST(json_depth_and_size_limits)
{
	struct json_doc doc;
	char text[300];
	json_doc_init(&doc, 200);
	/* 64 nested arrays are fine, 65 are not */
	memset(text, '[', 64);
	memset(text + 64, ']', 64);
	CHECK(json_parse(&doc, text, 128) != NULL);
	memset(text, '[', 65);
	memset(text + 65, ']', 65);
	CHECK(json_parse(&doc, text, 130) == NULL);
	CHECK_STR(json_doc_error(&doc), "offset 64: nesting deeper than 64 levels");
	/* objects count too */
	struct buf b;
	buf_init(&b, 1000);
	for (int i = 0; i < 65; i++)
		buf_puts(&b, "{\"a\":");
	buf_puts(&b, "1");
	for (int i = 0; i < 65; i++)
		buf_puts(&b, "}");
	json_doc_free(&doc);
	json_doc_init(&doc, 1000);
	CHECK(json_parse(&doc, b.data, b.len) == NULL);
	CHECK(strstr(json_doc_error(&doc), "nesting deeper") != NULL);
	CHECK(json_parse(&doc, b.data + 5, b.len - 6) != NULL); /* 64 levels */
	buf_free(&b);
	/* the caller's size limit */
	json_doc_free(&doc);
	json_doc_init(&doc, 10);
	CHECK(parse(&doc, "[1,2,3,4,5]") == NULL);
	CHECK_STR(json_doc_error(&doc), "offset 10: text larger than the limit");
	CHECK(parse(&doc, "[1,2,3,45]") != NULL);
	json_doc_free(&doc);
}

TEST(json_values_and_accessors)
{
	struct json_doc doc;
	json_doc_init(&doc, 4096);
	const struct json_value *root = parse(
	        &doc, "{\"s\":\"x\\\"y\",\"i\":-42,\"big\":1234567890123456789,"
	              "\"max\":9223372036854775807,\"min\":-9223372036854775808,"
	              "\"over\":9223372036854775808,\"u\":18446744073709551615,"
	              "\"uover\":18446744073709551616,\"f\":-1.5e3,\"t\":true,"
	              "\"n\":null,\"a\":[10,\"b\",false],\"o\":{},\"id\":\"412345678901234567\","
	              "\"bad_id\":\"12a\",\"huge\":1e400}");
	if (!CHECK(root != NULL))
		return;
	CHECK_INT(json_type(root), JSON_OBJECT);
	CHECK_INT(json_len(root), 16);
	size_t len = 0;
	CHECK_STR(json_string(json_get(root, "s"), &len), "x\"y");
	CHECK_INT(len, 3);
	CHECK(json_string(json_get(root, "i"), NULL) == NULL);

	int64_t i = 0;
	CHECK_INT(json_int64(json_get(root, "i"), &i), 0);
	CHECK_INT(i, -42);
	CHECK_INT(json_int64(json_get(root, "big"), &i), 0);
	CHECK(i == 1234567890123456789LL);
	CHECK_INT(json_int64(json_get(root, "max"), &i), 0);
	CHECK(i == INT64_MAX);
	CHECK_INT(json_int64(json_get(root, "min"), &i), 0);
	CHECK(i == INT64_MIN);
	i = 7;
	CHECK_INT(json_int64(json_get(root, "over"), &i), -1);
	CHECK_INT(i, 7); /* untouched on failure */
	CHECK_INT(json_int64(json_get(root, "f"), &i), -1);
	CHECK_INT(json_int64(json_get(root, "s"), &i), -1);
	CHECK_INT(json_int64(NULL, &i), -1);

	uint64_t u = 0;
	CHECK_INT(json_uint64(json_get(root, "u"), &u), 0);
	CHECK(u == UINT64_MAX);
	CHECK_INT(json_uint64(json_get(root, "uover"), &u), -1);
	CHECK_INT(json_uint64(json_get(root, "i"), &u), -1);
	/* the big numbers keep their text exactly */
	CHECK_STR(json_number_text(json_get(root, "uover"), &len), "18446744073709551616");
	CHECK_INT(len, 20);

	CHECK_INT(json_id(json_get(root, "id"), &u), 0);
	CHECK(u == 412345678901234567ULL);
	CHECK_INT(json_id(json_get(root, "big"), &u), 0);
	CHECK(u == 1234567890123456789ULL);
	CHECK_INT(json_id(json_get(root, "bad_id"), &u), -1);
	CHECK_INT(json_path_id(root, "id", &u), 0);

	double d = 0;
	CHECK_INT(json_double(json_get(root, "f"), &d), 0);
	CHECK(d == -1500.0);
	CHECK_INT(json_double(json_get(root, "i"), &d), 0);
	CHECK(d == -42.0);
	CHECK_INT(json_double(json_get(root, "huge"), &d), -1);
	CHECK_INT(json_double(json_get(root, "s"), &d), -1);

	CHECK_INT(json_bool(json_get(root, "t")), 1);
	CHECK_INT(json_bool(json_path(root, "a[2]")), 0);
	CHECK_INT(json_bool(json_get(root, "n")), -1);
	CHECK_INT(json_is_null(json_get(root, "n")), 1);
	CHECK_INT(json_is_null(json_get(root, "absent")), 0);
	CHECK_INT(json_type(json_get(root, "absent")), JSON_NONE);
	CHECK_INT(json_type(json_get(root, "o")), JSON_OBJECT);
	CHECK_INT(json_len(json_get(root, "o")), 0);
	CHECK(json_first(json_get(root, "o")) == NULL);

	/* array access and iteration */
	const struct json_value *a = json_get(root, "a");
	CHECK_INT(json_len(a), 3);
	CHECK_INT(json_path_int64(root, "a[0]", &i), 0);
	CHECK_INT(i, 10);
	CHECK_STR(json_string(json_at(a, 1), NULL), "b");
	CHECK(json_at(a, 3) == NULL);
	CHECK(json_at(root, 0) == NULL); /* an object is not an array */
	int n = 0;
	for (const struct json_value *e = json_first(a); e; e = json_next(e))
		n++;
	CHECK_INT(n, 3);
	CHECK(json_key(json_first(a), NULL) == NULL);

	/* object iteration in document order, with keys */
	const struct json_value *m = json_first(root);
	CHECK_STR(json_key(m, &len), "s");
	CHECK_INT(len, 1);
	m = json_next(m);
	CHECK_STR(json_key(m, NULL), "i");
	n = 0;
	for (m = json_first(root); m; m = json_next(m))
		n++;
	CHECK_INT(n, 16);
	json_doc_free(&doc);
}

TEST(json_strings_are_decoded)
{
	struct json_doc doc;
	json_doc_init(&doc, 4096);
	const struct json_value *root =
	        parse(&doc, "[\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\", \"\\u00e9\\u4E2D\", "
	                    "\"\\ud83d\\ude00\", \"a\\u0000b\", \"caf\xc3\xa9\", \"\"]");
	if (!CHECK(root != NULL))
		return;
	size_t len;
	CHECK_STR(json_string(json_at(root, 0), NULL), "\" \\ / \b \f \n \r \t");
	CHECK_STR(json_string(json_at(root, 1), NULL), "\xc3\xa9\xe4\xb8\xad");
	CHECK_STR(json_string(json_at(root, 2), &len), "\xf0\x9f\x98\x80");
	CHECK_INT(len, 4);
	const char *s = json_string(json_at(root, 3), &len);
	CHECK_INT(len, 3);
	CHECK(s && memcmp(s, "a\0b", 4) == 0);
	CHECK_STR(json_string(json_at(root, 4), NULL), "caf\xc3\xa9");
	CHECK_STR(json_string(json_at(root, 5), &len), "");
	CHECK_INT(len, 0);
	/* keys are decoded too, and lookups use the decoded form */
	root = parse(&doc, "{\"\\u0061b\":1,\"a\\u0000\":2}");
	CHECK(json_get(root, "ab") != NULL);
	CHECK(json_getn(root, "a\0", 2) != NULL);
	CHECK(json_get(root, "a") == NULL);
	json_doc_free(&doc);
}

/* Issue 12.5: a lone UTF-16 surrogate escape is valid JSON text but no
 * character. It decodes to U+FFFD (EF BF BD) so the event holding it is
 * still handled; a complete pair is still joined; what follows a lone high
 * surrogate is decoded on its own. */
TEST(json_lone_surrogates_become_replacement)
{
	static const struct {
		const char *text, *want;
		size_t len;
	} cases[] = {
	        {"\"\\ud800\"", "\xef\xbf\xbd", 3},
	        {"\"\\udc00\"", "\xef\xbf\xbd", 3},
	        {"\"\\uDBFF\"", "\xef\xbf\xbd", 3},
	        {"\"\\uDFFF\"", "\xef\xbf\xbd", 3},
	        {"\"a\\ud800b\"",
	         "a\xef\xbf\xbd"
	         "b",
	         5},
	        /* high then high: two replacements */
	        {"\"\\ud800\\ud800\"", "\xef\xbf\xbd\xef\xbf\xbd", 6},
	        /* high then a BMP escape: replacement, then the character */
	        {"\"\\ud800\\u0041\"",
	         "\xef\xbf\xbd"
	         "A",
	         4},
	        /* high then a complete pair: replacement, then the pair */
	        {"\"\\ud800\\ud83d\\ude00\"", "\xef\xbf\xbd\xf0\x9f\x98\x80", 7},
	        /* low then high: two replacements (the order makes no pair) */
	        {"\"\\udc00\\ud800\"", "\xef\xbf\xbd\xef\xbf\xbd", 6},
	        /* high then a non-\u escape, and at the very end */
	        {"\"\\ud800\\n\"", "\xef\xbf\xbd\n", 4},
	        {"\"x\\ud83d\"", "x\xef\xbf\xbd", 4},
	};
	struct json_doc doc;
	json_doc_init(&doc, 4096);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct json_value *v = parse(&doc, cases[i].text);
		if (!test_check(v != NULL, cases[i].text, __FILE__, __LINE__))
			continue;
		size_t len = 0;
		const char *s = json_string(v, &len);
		CHECK_INT(len, cases[i].len);
		test_check(s && memcmp(s, cases[i].want, cases[i].len) == 0, cases[i].text,
		           __FILE__, __LINE__);
	}
	/* in a key too, and a gateway event holding one is still read whole */
	const struct json_value *root =
	        parse(&doc, "{\"op\":0,\"t\":\"MESSAGE_CREATE\",\"d\":{\"content\":"
	                    "\"hi \\ud800\",\"channel_id\":\"12\",\"k\\udc00\":1}}");
	if (CHECK(root != NULL)) {
		CHECK_STR(json_path_str(root, "d.content"), "hi \xef\xbf\xbd");
		CHECK_STR(json_path_str(root, "d.channel_id"), "12");
		CHECK(json_get(json_get(root, "d"), "k\xef\xbf\xbd") != NULL);
	}
	/* still strict about what is not a surrogate question */
	CHECK(parse(&doc, "\"\\ud800\\u12\"") == NULL);
	CHECK(parse(&doc, "\"\\ud800\\x\"") == NULL);
	json_doc_free(&doc);
}

TEST(json_path_access)
{
	struct json_doc doc;
	size_t len;
	char *text = test_read_file(MESSAGE_CREATE, &len);
	if (!CHECK(text != NULL))
		return;
	json_doc_init(&doc, 1 << 16);
	const struct json_value *root = json_parse(&doc, text, len);
	if (!CHECK(root != NULL))
		goto out;
	CHECK_STR(json_path_str(root, "t"), "MESSAGE_CREATE");
	CHECK_STR(json_path_str(root, "d.author.id"), "412345678901234567");
	CHECK_STR(json_path_str(root, "d.embeds[0].title"),
	          "Proposal #17: a weekly \"show & tell\" channel");
	CHECK_STR(json_path_str(root, "d.embeds[0].fields[1].name"), "Votes");
	CHECK_STR(json_path_str(root, "d.mentions[0].member.nick"), "Mira");
	CHECK_STR(json_path_str(root, "d.member.roles[1]"), "1122334455667788990");
	int64_t i;
	CHECK_INT(json_path_int64(root, "s", &i), 0);
	CHECK_INT(i, 42);
	CHECK_INT(json_path_int64(root, "d.attachments[0].size", &i), 0);
	CHECK_INT(i, 183204);
	uint64_t id;
	CHECK_INT(json_path_id(root, "d.channel_id", &id), 0);
	CHECK(id == 1087654321098765432ULL);
	CHECK(json_path(root, "") == root);
	CHECK_INT(json_type(json_path(root, "d.referenced_message")), JSON_NULL);
	/* absent, wrong type, malformed: all NULL */
	CHECK(json_path(root, "d.nope") == NULL);
	CHECK(json_path(root, "d.embeds[1].title") == NULL);
	CHECK(json_path(root, "d.author[0]") == NULL);
	CHECK(json_path(root, "d.embeds.title") == NULL);
	CHECK(json_path(root, "t.x") == NULL);
	CHECK(json_path_str(root, "s") == NULL);
	CHECK(json_path(root, "d..id") == NULL);
	CHECK(json_path(root, "d.") == NULL);
	CHECK(json_path(root, ".d") == NULL);
	CHECK(json_path(root, "d.embeds[x]") == NULL);
	CHECK(json_path(root, "d.embeds[0") == NULL);
	CHECK(json_path(root, "d.embeds[99999999999999999999]") == NULL);
	CHECK(json_path(NULL, "d") == NULL);
	/* an array at the top */
	root = parse(&doc, "[[1,{\"k\":\"v\"}]]");
	CHECK_STR(json_path_str(root, "[0][1].k"), "v");
	CHECK(json_path(root, "[1]") == NULL);
out:
	json_doc_free(&doc);
	free(text);
}

/* After the first document the arena keeps its memory: a document of the
 * same size (or smaller) parses with every allocation made to fail. */
TEST(json_parse_allocates_nothing_after_warmup)
{
	struct json_doc doc;
	size_t len;
	char *text = test_read_file(MESSAGE_CREATE, &len);
	if (!CHECK(text != NULL))
		return;
	json_doc_init(&doc, 1 << 16);
	CHECK(json_parse(&doc, text, len) != NULL);
	CHECK(json_parse(&doc, text, len) != NULL);
	mem_fail_after(0);
	for (int round = 0; round < 3; round++) {
		CHECK(json_parse(&doc, text, len) != NULL);
		CHECK(parse(&doc, "{\"op\":11}") != NULL);
	}
	long allocations = mem_fail_after(-1);
	CHECK_INT(allocations, 0);
	json_doc_free(&doc);

	/* a document that needs several blocks: the blocks are merged at
	 * the next parse, after which it too parses without allocating */
	struct buf big;
	buf_init(&big, 1 << 20);
	buf_putc(&big, '[');
	for (int k = 0; k < 5000; k++)
		buf_printf(&big, "%s{\"id\":\"%d\",\"v\":[%d,true,null]}", k ? "," : "", k, k);
	buf_putc(&big, ']');
	json_doc_init(&doc, 1 << 20);
	CHECK(json_parse(&doc, big.data, big.len) != NULL);
	CHECK(json_parse(&doc, big.data, big.len) != NULL);
	mem_fail_after(0);
	const struct json_value *root = json_parse(&doc, big.data, big.len);
	CHECK(root != NULL);
	CHECK(json_parse(&doc, text, len) != NULL);
	CHECK_INT(mem_fail_after(-1), 0);
	root = json_parse(&doc, big.data, big.len);
	CHECK_STR(json_path_str(root, "[4999].id"), "4999");
	json_doc_free(&doc);
	buf_free(&big);
	free(text);
}

/* Fail allocation n, then n+1, ...: every attempt fails cleanly with an
 * "out of memory" error until one succeeds (ASan checks for leaks). */
TEST(json_parse_survives_allocation_failure)
{
	size_t len;
	char *text = test_read_file(MESSAGE_CREATE, &len);
	if (!CHECK(text != NULL))
		return;
	/* one document made of 200 messages, so the arena grows many times */
	struct buf doc_text;
	buf_init(&doc_text, 1 << 20);
	buf_putc(&doc_text, '[');
	for (int k = 0; k < 200; k++) {
		if (k)
			buf_putc(&doc_text, ',');
		buf_append(&doc_text, text, len);
	}
	buf_putc(&doc_text, ']');
	const struct {
		const char *text;
		size_t len;
	} inputs[] = {{text, len}, {doc_text.data, doc_text.len}};
	for (size_t k = 0; k < 2; k++) {
		int succeeded = 0;
		for (long n = 0; n < 1000 && !succeeded; n++) {
			struct json_doc doc;
			json_doc_init(&doc, 1 << 20);
			mem_fail_after(n);
			const struct json_value *root =
			        json_parse(&doc, inputs[k].text, inputs[k].len);
			mem_fail_after(-1);
			if (root) {
				succeeded = 1;
				CHECK(n > 0);
			} else {
				CHECK(strstr(json_doc_error(&doc), "out of memory") != NULL);
			}
			/* the doc stays usable after a failure */
			CHECK(json_parse(&doc, "[1]", 3) != NULL);
			json_doc_free(&doc);
		}
		CHECK(succeeded);
	}
	buf_free(&doc_text);
	free(text);
}

/* ---------------------------------------------------------------- writer */

TEST(json_writer_structure_and_values)
{
	struct buf b;
	struct json_writer w;
	buf_init(&b, 4096);
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key_string(&w, "content", "hi");
	json_write_key(&w, "embeds");
	json_write_array_begin(&w);
	json_write_object_begin(&w);
	json_write_key_int64(&w, "color", 5793266);
	json_write_object_end(&w);
	json_write_array_begin(&w);
	json_write_array_end(&w);
	json_write_object_begin(&w);
	json_write_object_end(&w);
	json_write_null(&w);
	json_write_array_end(&w);
	json_write_key_bool(&w, "tts", 0);
	json_write_key(&w, "n");
	json_write_array_begin(&w);
	json_write_int64(&w, INT64_MIN);
	json_write_int64(&w, INT64_MAX);
	json_write_int64(&w, 0);
	json_write_uint64(&w, UINT64_MAX);
	json_write_double(&w, 0.1);
	json_write_double(&w, -2.5e-300);
	json_write_double(&w, 1e21);
	json_write_double(&w, 3);
	json_write_bool(&w, 1);
	json_write_id(&w, 412345678901234567ULL);
	json_write_raw(&w, "{\"x\":[1]}", 9);
	json_write_array_end(&w);
	json_write_object_end(&w);
	CHECK_INT(json_writer_finish(&w), 0);
	CHECK_STR(buf_str(&b), "{\"content\":\"hi\",\"embeds\":[{\"color\":5793266},[],{},null],"
	                       "\"tts\":false,\"n\":[-9223372036854775808,9223372036854775807,0,"
	                       "18446744073709551615,0.1,-2.5e-300,1e+21,3,true,"
	                       "\"412345678901234567\",{\"x\":[1]}]}");
	buf_free(&b);

	/* a bare top-level value is a JSON text too */
	json_writer_init(&w, &b);
	json_write_string(&w, "x");
	CHECK_INT(json_writer_finish(&w), 0);
	CHECK_STR(buf_str(&b), "\"x\"");
	buf_free(&b);
}

TEST(json_writer_escapes_strings)
{
	struct buf b;
	struct json_writer w;
	buf_init(&b, 4096);
	json_writer_init(&w, &b);
	json_write_array_begin(&w);
	json_write_string(&w, "q\" b\\ / \b\f\n\r\t \x01\x1f\x7f end");
	/* valid UTF-8 passes through */
	json_write_string(&w, "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80");
	/* invalid UTF-8: a lone continuation byte, a truncated sequence, an
	 * overlong form, an encoded surrogate, 0xFF */
	json_write_string(&w, "a\x80"
	                      "b\xc3"
	                      "c\xc0\xaf"
	                      "d\xed\xa0\x80"
	                      "e\xff");
	json_write_stringn(&w, "n\0ul", 4);
	json_write_array_end(&w);
	CHECK_INT(json_writer_finish(&w), 0);
	CHECK_STR(buf_str(&b), "[\"q\\\" b\\\\ / \\b\\f\\n\\r\\t \\u0001\\u001f\x7f end\","
	                       "\"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\","
	                       "\"a\xef\xbf\xbd"
	                       "b\xef\xbf\xbd"
	                       "c\xef\xbf\xbd\xef\xbf\xbd"
	                       "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                       "e\xef\xbf\xbd\","
	                       "\"n\\u0000ul\"]");
	/* and what it wrote is valid JSON that reads back */
	struct json_doc doc;
	json_doc_init(&doc, 4096);
	const struct json_value *root = json_parse(&doc, b.data, b.len);
	CHECK(root != NULL);
	CHECK_STR(json_string(json_at(root, 0), NULL), "q\" b\\ / \b\f\n\r\t \x01\x1f\x7f end");
	size_t len;
	const char *s = json_string(json_at(root, 3), &len);
	CHECK(len == 4 && s && memcmp(s, "n\0ul", 4) == 0);
	/* keys are escaped the same way */
	buf_reset(&b);
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key_string(&w, "k\"\n\xff", "v");
	json_write_object_end(&w);
	CHECK_INT(json_writer_finish(&w), 0);
	CHECK_STR(buf_str(&b), "{\"k\\\"\\n\xef\xbf\xbd\":\"v\"}");
	json_doc_free(&doc);
	buf_free(&b);
}

/* Each kind of misuse sets the flag that json_writer_finish reports. */
TEST(json_writer_error_flag)
{
	struct buf b;
	struct json_writer w;
	buf_init(&b, 4096);

	json_writer_init(&w, &b); /* nothing written */
	CHECK_INT(json_writer_finish(&w), -1);

	json_writer_init(&w, &b); /* value without a key in an object */
	json_write_object_begin(&w);
	json_write_int64(&w, 1);
	json_write_object_end(&w);
	CHECK_INT(json_writer_finish(&w), -1);

	json_writer_init(&w, &b); /* key in an array */
	json_write_array_begin(&w);
	json_write_key(&w, "k");
	json_write_array_end(&w);
	CHECK_INT(json_writer_finish(&w), -1);

	json_writer_init(&w, &b); /* key without its value */
	json_write_object_begin(&w);
	json_write_key(&w, "k");
	json_write_object_end(&w);
	CHECK_INT(json_writer_finish(&w), -1);

	json_writer_init(&w, &b); /* unclosed, and mismatched */
	json_write_array_begin(&w);
	CHECK_INT(json_writer_finish(&w), -1);
	json_write_object_end(&w);
	CHECK_INT(json_writer_finish(&w), -1);

	json_writer_init(&w, &b); /* two top-level values */
	json_write_null(&w);
	json_write_null(&w);
	CHECK_INT(json_writer_finish(&w), -1);

	json_writer_init(&w, &b); /* JSON has no NaN or infinity */
	json_write_array_begin(&w);
	json_write_double(&w, NAN);
	json_write_array_end(&w);
	CHECK_INT(json_writer_finish(&w), -1);
	json_writer_init(&w, &b);
	json_write_double(&w, INFINITY);
	CHECK_INT(json_writer_finish(&w), -1);

	json_writer_init(&w, &b); /* deeper than the limit */
	for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
		json_write_array_begin(&w);
	for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
		json_write_array_end(&w);
	CHECK_INT(json_writer_finish(&w), -1);
	buf_free(&b);

	/* the buf's max: the flag is set, checked once at the end */
	buf_init(&b, 16);
	json_writer_init(&w, &b);
	json_write_array_begin(&w);
	for (int i = 0; i < 10; i++)
		json_write_string(&w, "abc");
	json_write_array_end(&w);
	CHECK_INT(json_writer_finish(&w), -1);
	CHECK(b.len <= 16);
	buf_free(&b);
}

TEST(json_writer_survives_allocation_failure)
{
	int succeeded = 0;
	for (long n = 0; n < 100 && !succeeded; n++) {
		struct buf b;
		struct json_writer w;
		buf_init(&b, 1 << 20);
		json_writer_init(&w, &b);
		mem_fail_after(n);
		json_write_array_begin(&w);
		for (int i = 0; i < 200; i++)
			json_write_string(&w, "some text \"quoted\"\n");
		json_write_array_end(&w);
		mem_fail_after(-1);
		succeeded = json_writer_finish(&w) == 0;
		buf_free(&b);
	}
	CHECK(succeeded);
}

/* write -> parse -> the same values. */
TEST(json_writer_round_trip)
{
	struct buf b;
	struct json_writer w;
	struct json_doc doc;
	buf_init(&b, 1 << 16);
	json_doc_init(&doc, 1 << 16);
	static const double doubles[] = {
	        0.0, -0.0, 0.1, 1.0 / 3, 1e-310, 1.7976931348623157e308, -123456.789, 5e-324, 2.5};
	static const int64_t ints[] = {INT64_MIN, -1, 0, 1, 1234567890123456789LL, INT64_MAX};
	const char *strings[] = {"",
	                         "plain",
	                         "\"\\/\b\f\n\r\t",
	                         "\x01\x02\x1f",
	                         "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80",
	                         "\xed\x9f\xbf\xee\x80\x80"};
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "doubles");
	json_write_array_begin(&w);
	for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++)
		json_write_double(&w, doubles[i]);
	json_write_array_end(&w);
	json_write_key(&w, "ints");
	json_write_array_begin(&w);
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
		json_write_int64(&w, ints[i]);
	json_write_array_end(&w);
	json_write_key(&w, "u");
	json_write_uint64(&w, UINT64_MAX);
	json_write_key(&w, "strings");
	json_write_array_begin(&w);
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		json_write_string(&w, strings[i]);
	json_write_array_end(&w);
	json_write_key(&w, "b");
	json_write_bool(&w, 1);
	json_write_key(&w, "id");
	json_write_id(&w, UINT64_MAX);
	json_write_key(&w, "z");
	json_write_null(&w);
	json_write_object_end(&w);
	CHECK_INT(json_writer_finish(&w), 0);

	const struct json_value *root = json_parse(&doc, b.data, b.len);
	if (!CHECK(root != NULL))
		goto out;
	const struct json_value *e = json_first(json_get(root, "doubles"));
	for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++, e = json_next(e)) {
		double d = -1;
		CHECK_INT(json_double(e, &d), 0);
		CHECK(d == doubles[i] && signbit(d) == signbit(doubles[i]));
	}
	e = json_first(json_get(root, "ints"));
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++, e = json_next(e)) {
		int64_t v = 0;
		CHECK_INT(json_int64(e, &v), 0);
		CHECK(v == ints[i]);
	}
	uint64_t u = 0;
	CHECK_INT(json_uint64(json_get(root, "u"), &u), 0);
	CHECK(u == UINT64_MAX);
	e = json_first(json_get(root, "strings"));
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++, e = json_next(e))
		CHECK_STR(json_string(e, NULL), strings[i]);
	CHECK_INT(json_bool(json_get(root, "b")), 1);
	u = 0;
	CHECK_INT(json_path_id(root, "id", &u), 0);
	CHECK(u == UINT64_MAX);
	CHECK_INT(json_type(json_get(root, "id")), JSON_STRING);
	CHECK(json_is_null(json_get(root, "z")));
out:
	json_doc_free(&doc);
	buf_free(&b);
}

/* parse -> json_write_value -> parse gives the same tree, for every valid
 * case and the Discord message. */
TEST(json_write_value_round_trip)
{
	struct test_files list;
	if (!CHECK(test_files("tests/data/json/valid", &list) == 0))
		return;
	struct json_doc first, second;
	struct buf b;
	json_doc_init(&first, 1 << 20);
	json_doc_init(&second, 1 << 20);
	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < list.count; i++) {
		const char *path = list.paths[i];
		size_t len;
		char *text = test_read_file(path, &len);
		const struct json_value *a = text ? json_parse(&first, text, len) : NULL;
		if (!test_check(a != NULL, path, __FILE__, __LINE__)) {
			free(text);
			continue;
		}
		struct json_writer w;
		buf_reset(&b);
		json_writer_init(&w, &b);
		json_write_value(&w, a);
		CHECK_INT(json_writer_finish(&w), 0);
		const struct json_value *again = json_parse(&second, b.data, b.len);
		test_check(again && json_equal(a, again), path, __FILE__, __LINE__);
		free(text);
	}
	test_files_free(&list);
	/* json_equal itself tells different trees apart */
	const struct json_value *x = parse(&first, "{\"a\":[1,\"s\",null]}");
	CHECK(json_equal(x, parse(&second, "{\"a\":[1,\"s\",null]}")));
	CHECK(!json_equal(x, parse(&second, "{\"a\":[1.0,\"s\",null]}")));
	CHECK(!json_equal(x, parse(&second, "{\"b\":[1,\"s\",null]}")));
	CHECK(!json_equal(x, parse(&second, "{\"a\":[1,\"t\",null]}")));
	CHECK(!json_equal(x, parse(&second, "{\"a\":[1,\"s\"]}")));
	CHECK(!json_equal(x, parse(&second, "{\"a\":[1,\"s\",false]}")));
	json_doc_free(&first);
	json_doc_free(&second);
	buf_free(&b);
}

/* Strings are decoded straight into the arena block when it has room, and
 * by a second routine when the block is nearly full. Every string case,
 * placed after fillers of each length that puts it near the end of the
 * first block, must be judged as it is alone, and decode the same. */
TEST(json_strings_at_the_end_of_an_arena_block)
{
	static const char *const dirs[] = {"tests/data/json/valid", "tests/data/json/invalid"};
	struct json_doc alone, padded;
	struct buf text;
	json_doc_init(&alone, 1 << 16);
	json_doc_init(&padded, 1 << 16);
	buf_init(&text, 1 << 16);
	int cases = 0;
	for (int k = 0; k < 2; k++) {
		struct test_files list;
		if (!CHECK(test_files(dirs[k], &list) == 0))
			continue;
		for (size_t f = 0; f < list.count; f++) {
			if (!strstr(list.names[f], "_string_"))
				continue;
			const char *path = list.paths[f];
			size_t len;
			char *json = test_read_file(path, &len);
			if (!CHECK(json != NULL))
				continue;
			const struct json_value *want = json_parse(&alone, json, len);
			/* the first block holds 8192 bytes: two nodes of 40, the
			 * filler string, then the case's nodes and strings */
			for (size_t filler = 8000; filler < 8160; filler++) {
				buf_reset(&text);
				buf_puts(&text, "[\"");
				for (size_t i = 0; i < filler; i++)
					buf_putc(&text, 'x');
				buf_puts(&text, "\",");
				buf_append(&text, json, len);
				buf_putc(&text, ']');
				json_doc_free(&padded); /* start from a fresh first block */
				const struct json_value *got =
				        json_parse(&padded, text.data, text.len);
				if (!test_check(!got == !want, path, __FILE__, __LINE__))
					break;
				if (got && !test_check(json_equal(json_at(got, 1), want), path,
				                       __FILE__, __LINE__))
					break;
			}
			free(json);
			cases++;
		}
		test_files_free(&list);
	}
	CHECK(cases >= 40);
	json_doc_free(&alone);
	json_doc_free(&padded);
	buf_free(&text);
}
