/* test_jsonkeep.c — the streaming JSON pruner: expected outputs written
 * out by hand, every split of a sample into two chunks and into single
 * bytes, escapes cut anywhere, "d" before "t", the depth limit, the output
 * limit, and bad input failing cleanly (tests/fuzz/fuzz_jsonkeep.c checks
 * it against the DOM on random input). */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "jsonkeep.h"
#include "test.h"

static const struct jsonkeep_spec tk_channel[] = {
        {"id", NULL}, {"type", NULL}, {"name", NULL}, {NULL, NULL}};
static const struct jsonkeep_spec tk_d[] = {
        {"id", NULL}, {"channels", tk_channel}, {"keep", NULL}, {NULL, NULL}};
static const struct jsonkeep_spec tk_root[] = {
        {"op", NULL}, {"s", NULL}, {"t", NULL}, {"d", tk_d}, {NULL, NULL}};
static const struct jsonkeep_rule tk_rules[] = {{"GUILD_CREATE", tk_root}, {NULL, NULL}};

/* Prunes text fed in the chunks that cuts[] (ascending offsets, ended by
 * 0) makes; returns the output in out (or "ERR: why"). */
static void
tk_prune_cuts(const char *text, const size_t *cuts, char *out, size_t out_size)
{
	struct jsonkeep k;
	jsonkeep_init(&k, tk_rules, 1 << 16);
	size_t len = strlen(text), at = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && cuts && cuts[i]; i++) {
		rc = jsonkeep_feed(&k, text + at, cuts[i] - at);
		at = cuts[i];
	}
	if (rc == 0)
		rc = jsonkeep_feed(&k, text + at, len - at);
	if (rc == 0)
		rc = jsonkeep_finish(&k);
	if (rc == 0) {
		size_t n;
		snprintf(out, out_size, "%s", jsonkeep_output(&k, &n));
	} else {
		snprintf(out, out_size, "ERR: %s", jsonkeep_error(&k));
	}
	jsonkeep_free(&k);
}

static void
tk_prune(const char *text, char *out, size_t out_size)
{
	tk_prune_cuts(text, NULL, out, out_size);
}

static const char tk_sample[] =
        "{\"t\":\"GUILD_CREATE\",\"s\":2,\"op\":0,\"d\":{\"members\":[{\"user\":{\"id\":\"5\","
        "\"name\":\"m\"}}],\"id\":\"77\",\"channels\":[{\"topic\":\"a \\\"b\\\" \\u00e9\","
        "\"id\":\"10\",\"type\":0,\"name\":\"caf\\u00e9 \xc3\xa9\",\"nsfw\":false},{\"id\":"
        "\"11\",\"name\":\"x\\ud83d\\ude00\",\"permission_overwrites\":[{\"id\":\"1\"}],"
        "\"type\":4,\"position\":-1.5e+3}],\"roles\":[1,2,{\"a\":null}],\"keep\":{\"x\":[true,"
        "false,null,{\"y\":[]}]}},\"extra\":1}";
static const char tk_sample_want[] =
        "{\"t\":\"GUILD_CREATE\",\"s\":2,\"op\":0,\"d\":{\"id\":\"77\",\"channels\":[{\"id\":"
        "\"10\",\"type\":0,\"name\":\"caf\\u00e9 \xc3\xa9\"},{\"id\":\"11\",\"name\":"
        "\"x\\ud83d\\ude00\",\"type\":4}],\"keep\":{\"x\":[true,false,null,{\"y\":[]}]}}}";

TEST(jsonkeep_keeps_what_the_spec_names)
{
	char out[2048];
	tk_prune(tk_sample, out, sizeof out);
	CHECK_STR(out, tk_sample_want);
}

TEST(jsonkeep_every_split_gives_the_same_output)
{
	char out[2048];
	size_t len = strlen(tk_sample);
	int bad = 0;
	for (size_t cut = 1; cut < len; cut++) {
		size_t cuts[2] = {cut, 0};
		tk_prune_cuts(tk_sample, cuts, out, sizeof out);
		if (strcmp(out, tk_sample_want) != 0 && bad++ == 0)
			CHECK_STR(out, tk_sample_want); /* the first one, with its text */
	}
	CHECK_INT(bad, 0);
	/* every byte its own chunk */
	size_t cuts[2048];
	for (size_t i = 1; i < len; i++)
		cuts[i - 1] = i;
	cuts[len - 1] = 0;
	tk_prune_cuts(tk_sample, cuts, out, sizeof out);
	CHECK_STR(out, tk_sample_want);
	/* random three-way splits */
	test_rand_seed(13);
	bad = 0;
	for (int i = 0; i < 500; i++) {
		size_t a = 1 + test_rand() % (len - 2), b = 1 + test_rand() % (len - 2);
		size_t three[3] = {a < b ? a : b, a < b ? b : a, 0};
		if (three[0] == three[1])
			three[1] = 0;
		tk_prune_cuts(tk_sample, three, out, sizeof out);
		bad += strcmp(out, tk_sample_want) != 0;
	}
	CHECK_INT(bad, 0);
}

TEST(jsonkeep_commas_stay_right_when_members_are_dropped)
{
	char out[512];
	static const char *const cases[][2] = {
	        /* dropped at the start, middle and end */
	        {"{\"t\":\"GUILD_CREATE\",\"d\":{\"x\":1,\"id\":2,\"y\":3,\"keep\":4,\"z\":5}}",
	         "{\"t\":\"GUILD_CREATE\",\"d\":{\"id\":2,\"keep\":4}}"},
	        {"{\"t\":\"GUILD_CREATE\",\"d\":{\"x\":1,\"y\":{\"id\":1}}}",
	         "{\"t\":\"GUILD_CREATE\",\"d\":{}}"},
	        {"{\"t\":\"GUILD_CREATE\",\"d\":{\"id\":1,\"x\":[1,2]}}",
	         "{\"t\":\"GUILD_CREATE\",\"d\":{\"id\":1}}"},
	        {"{\"t\":\"GUILD_CREATE\",\"x\":1,\"d\":{}, \"y\" : 2 ,\"op\":0}",
	         "{\"t\":\"GUILD_CREATE\",\"d\":{},\"op\":0}"},
	        /* members before "t" are kept: the rule starts after it */
	        {"{\"x\":[1],\"t\":\"GUILD_CREATE\",\"x\":[2]}",
	         "{\"x\":[1],\"t\":\"GUILD_CREATE\"}"},
	        /* nested arrays: the element spec goes down every level */
	        {"{\"t\":\"GUILD_CREATE\",\"d\":{\"channels\":[[{\"id\":1,\"x\":2}],[],[[{\"x\":1}]"
	         "],"
	         "5,\"s\",[null]]}}",
	         "{\"t\":\"GUILD_CREATE\",\"d\":{\"channels\":[[{\"id\":1}],[],[[{}]],5,\"s\","
	         "[null]]}}"},
	        /* a kept value of another type than the spec expects is kept whole */
	        {"{\"t\":\"GUILD_CREATE\",\"d\":[{\"id\":1,\"x\":2},3]}",
	         "{\"t\":\"GUILD_CREATE\",\"d\":[{\"id\":1},3]}"},
	        {"{\"t\":\"GUILD_CREATE\",\"d\":\"text\"}",
	         "{\"t\":\"GUILD_CREATE\",\"d\":\"text\"}"},
	        /* keys match decoded; a longer or different key does not */
	        {"{\"t\":\"GUILD_CREATE\",\"d\":{\"\\u0069d\":1,\"idx\":2,\"i\":3,\"\":4}}",
	         "{\"t\":\"GUILD_CREATE\",\"d\":{\"\\u0069d\":1}}"},
	        {"{\"t\":\"GUILD_\\u0043REATE\",\"d\":{\"x\":1}}",
	         "{\"t\":\"GUILD_\\u0043REATE\",\"d\":{}}"},
	        /* whitespace goes, numbers and strings stay as written */
	        {" { \"t\" : \"GUILD_CREATE\" , \"s\" : -0.5e-7 , \"d\" : { \"id\" : \"a\\/b\" } "
	         "} ",
	         "{\"t\":\"GUILD_CREATE\",\"s\":-0.5e-7,\"d\":{\"id\":\"a\\/b\"}}"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tk_prune(cases[i][0], out, sizeof out);
		CHECK_STR(out, cases[i][1]);
	}
}

TEST(jsonkeep_without_a_rule_or_with_d_before_t_keeps_everything)
{
	char out[512];
	/* "d" before "t": kept whole, as if nothing were pruned */
	tk_prune("{\"op\":0,\"d\":{\"members\":[1],\"id\":1},\"t\":\"GUILD_CREATE\",\"s\":3,\"x\":"
	         "4}",
	         out, sizeof out);
	CHECK_STR(out,
	          "{\"op\":0,\"d\":{\"members\":[1],\"id\":1},\"t\":\"GUILD_CREATE\",\"s\":3}");
	/* another event */
	tk_prune("{\"t\":\"MESSAGE_CREATE\",\"d\":{\"members\":[1], \"id\":1}}", out, sizeof out);
	CHECK_STR(out, "{\"t\":\"MESSAGE_CREATE\",\"d\":{\"members\":[1],\"id\":1}}");
	/* only the first "t" decides */
	tk_prune("{\"t\":\"X\",\"t\":\"GUILD_CREATE\",\"d\":{\"q\":1}}", out, sizeof out);
	CHECK_STR(out, "{\"t\":\"X\",\"t\":\"GUILD_CREATE\",\"d\":{\"q\":1}}");
	tk_prune("{\"t\":null,\"d\":{\"q\":1}}", out, sizeof out);
	CHECK_STR(out, "{\"t\":null,\"d\":{\"q\":1}}");
	/* a root that is not an object, a "t" below the root */
	tk_prune("[{\"t\":\"GUILD_CREATE\",\"d\":{\"q\":1}}]", out, sizeof out);
	CHECK_STR(out, "[{\"t\":\"GUILD_CREATE\",\"d\":{\"q\":1}}]");
	tk_prune(" 12 ", out, sizeof out);
	CHECK_STR(out, "12");
	/* no rules at all */
	struct jsonkeep k;
	jsonkeep_init(&k, NULL, 100);
	static const char doc[] = "{\"t\":\"GUILD_CREATE\", \"d\":{\"x\":1}}";
	CHECK_INT(jsonkeep_feed(&k, doc, strlen(doc)), 0);
	CHECK_INT(jsonkeep_finish(&k), 0);
	size_t n;
	CHECK_STR(jsonkeep_output(&k, &n), "{\"t\":\"GUILD_CREATE\",\"d\":{\"x\":1}}");
	jsonkeep_free(&k);
}

TEST(jsonkeep_escapes_cut_anywhere)
{
	/* a key spelled with escapes, a surrogate pair and a lone surrogate,
	 * cut at every byte */
	static const char text[] =
	        "{\"t\":\"GUILD_CREATE\",\"d\":{\"\\u0069\\u0064\":\"\\ud83d\\ude00"
	        "\\ud800\\\"\\\\\",\"n\\u0061me\":1,\"keep\":\"\\uDBFF\\uDFFF\"}}";
	static const char want[] =
	        "{\"t\":\"GUILD_CREATE\",\"d\":{\"\\u0069\\u0064\":\"\\ud83d\\ude00"
	        "\\ud800\\\"\\\\\",\"keep\":\"\\uDBFF\\uDFFF\"}}";
	char out[512];
	size_t len = strlen(text);
	for (size_t a = 1; a < len; a++) {
		for (size_t b = a + 1; b < len; b += 7) {
			size_t cuts[3] = {a, b, 0};
			tk_prune_cuts(text, cuts, out, sizeof out);
			if (!CHECK_STR(out, want))
				return;
		}
	}
	/* the output parses, and the kept string decodes as the DOM says */
	struct json_doc doc;
	json_doc_init(&doc, 1024);
	const struct json_value *root = json_parse(&doc, want, strlen(want));
	CHECK_STR(json_path_str(root, "d.id"), "\xf0\x9f\x98\x80\xef\xbf\xbd\"\\");
	json_doc_free(&doc);
}

TEST(jsonkeep_depth_is_limited_like_the_parser)
{
	char text[2 * (JSON_MAX_DEPTH + 1) + 1];
	char out[512];
	for (int depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
		memset(text, '[', (size_t)depth);
		memset(text + depth, ']', (size_t)depth);
		text[2 * depth] = '\0';
		tk_prune(text, out, sizeof out);
		if (depth == JSON_MAX_DEPTH)
			CHECK_STR(out, text);
		else
			CHECK(strncmp(out, "ERR: ", 5) == 0 && strstr(out, "too deep"));
	}
}

TEST(jsonkeep_bad_input_fails_cleanly)
{
	static const char *const bad[] = {
	        "",
	        "   ",
	        "{",
	        "{\"t\":\"GUILD_CREATE\",\"d\":{\"id\":1",
	        "{\"t\":\"GUILD_CREATE\",\"d\":{\"id\":1}",
	        "{\"a\" 1}",
	        "{\"a\":1,}",
	        "[1,]",
	        "[1 2]",
	        "{1:2}",
	        "{\"a\":1]",
	        "[1}",
	        "\"abc",
	        "\"a\\x\"",
	        "\"\\u12g4\"",
	        "\"\\u12\"",
	        "\"a\nb\"",
	        "\"\xc3\"",
	        "\"\xc0\x80\"",
	        "\"\xed\xa0\x80\"",
	        "\"\xf4\x90\x80\x80\"",
	        "\"\xff\"",
	        "01",
	        "-",
	        "1.",
	        ".5",
	        "1e",
	        "1e+",
	        "+1",
	        "tru",
	        "trux",
	        "nul",
	        "NaN",
	        "{} {}",
	        "1 2",
	        "\xef\xbb\xbf{}",
	        "{\"t\":\"GUILD_CREATE\",\"d\":{\"members\":[1,2,}]}}",
	        "{\"t\":\"GUILD_CREATE\",\"d\":{\"members\":\"\x01\"}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct jsonkeep k;
		jsonkeep_init(&k, tk_rules, 1 << 16);
		int rc = jsonkeep_feed(&k, bad[i], strlen(bad[i]));
		if (rc == 0)
			rc = jsonkeep_finish(&k);
		if (!CHECK_INT(rc, -1))
			fprintf(stderr, "  accepted: %s\n", bad[i]);
		CHECK(strncmp(jsonkeep_error(&k), "offset ", 7) == 0);
		/* sticky until reset, and the same object works after */
		CHECK_INT(jsonkeep_feed(&k, "1", 1), -1);
		jsonkeep_reset(&k);
		CHECK_INT(jsonkeep_feed(&k, "[1]", 3), 0);
		CHECK_INT(jsonkeep_finish(&k), 0);
		CHECK_STR(jsonkeep_error(&k), "");
		jsonkeep_free(&k);
	}
}

TEST(jsonkeep_output_is_bounded)
{
	struct jsonkeep k;
	jsonkeep_init(&k, tk_rules, 16);
	static const char small[] = "{\"t\":\"GUILD_CREATE\",\"d\":{\"members\":[1,2,3,4,5,6,7]}}";
	/* what is kept passes the limit of 16 */
	CHECK_INT(jsonkeep_feed(&k, small, strlen(small)), -1);
	CHECK(strstr(jsonkeep_error(&k), "limit") != NULL);
	/* a document of any size whose kept part fits is fine */
	jsonkeep_free(&k);
	jsonkeep_init(&k, tk_rules, 40);
	static const char big_head[] = "{\"t\":\"GUILD_CREATE\",\"d\":{\"members\":[";
	CHECK_INT(jsonkeep_feed(&k, big_head, strlen(big_head)), 0);
	for (int i = 0; i < 20000; i++)
		CHECK_INT(jsonkeep_feed(&k, "{\"id\":\"123456789\"},", 19), 0);
	CHECK_INT(jsonkeep_feed(&k, "1]}}", 4), 0);
	CHECK_INT(jsonkeep_finish(&k), 0);
	size_t n;
	CHECK_STR(jsonkeep_output(&k, &n), "{\"t\":\"GUILD_CREATE\",\"d\":{}}");
	jsonkeep_free(&k);
}

/* The DOM reference the fuzzer compares against gives the same text. */
TEST(jsonkeep_dom_reference_agrees_on_the_sample)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	struct buf b;
	buf_init(&b, 1 << 16);
	struct json_writer w;
	json_writer_init(&w, &b);
	jsonkeep_prune_dom(&w, json_parse(&doc, tk_sample, strlen(tk_sample)), tk_rules);
	CHECK_INT(json_writer_finish(&w), 0);
	struct json_doc want;
	json_doc_init(&want, 1 << 16);
	const struct json_value *a = json_parse(&want, tk_sample_want, strlen(tk_sample_want));
	struct json_doc got;
	json_doc_init(&got, 1 << 16);
	const struct json_value *g = json_parse(&got, b.data, b.len);
	CHECK(a && g && json_equal(a, g));
	json_doc_free(&doc);
	json_doc_free(&want);
	json_doc_free(&got);
	buf_free(&b);
}
