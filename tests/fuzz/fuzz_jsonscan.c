/* fuzz_jsonscan — the DOM-free scanner against the DOM parser.
 *
 * Any input: scanning (json_scan_fields, the iterator, json_scan_skip,
 * the span readers, discord_message_head_scan) must not crash or read
 * outside the input (ASan; the input is libFuzzer's own exact-size copy).
 * Differential: whenever json_parse accepts the input, json_scan_skip
 * must accept it too, ending at the end; when it is an object, the
 * iterator must give exactly its members in order (keys equal decoded,
 * values whose spans parse to json_equal values), json_scan_fields must
 * find for each key the member json_get finds (the first of duplicates)
 * and none for an absent key, json_scan_paths must find for paths made of
 * its keys (and its members' keys) what json_path finds, and the span
 * readers must answer as the DOM accessors do (json_id, json_int64,
 * json_bool, json_string). Any disagreement aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discord.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keys asked for by the differential: the object's own (up to this many
 * distinct ones per input), plus the fixed ones below. */
#define FUZZ_KEYS 8

static void
check_readers(struct json_span v, const struct json_value *want)
{
	uint64_t a = 0, b = 0;
	int ra = json_span_id(v, &a), rb = json_id(want, &b);
	if (ra != rb || (ra == 0 && a != b))
		abort();
	int64_t i = 0, j = 0;
	ra = json_span_int64(v, &i);
	rb = json_int64(want, &j);
	if (ra != rb || (ra == 0 && i != j))
		abort();
	if (json_span_bool(v) != json_bool(want))
		abort();
	if (json_span_type(v) != json_type(want))
		abort();
	char out[256];
	size_t n = 0, m = 0;
	const char *s = json_string(want, &m);
	ra = json_span_string(v, out, sizeof out, &n);
	if (s && m < sizeof out) {
		if (ra != 0 || n != m || memcmp(out, s, n) != 0)
			abort();
	} else if (!s && ra == 0) {
		abort();
	}
}

/* 1 when key can be one step of a json_path path: not empty, no '.',
 * '[' or NUL, and short enough for the buffer. */
static int
path_key(const char *key, size_t len)
{
	return len > 0 && len < 40 && !memchr(key, '.', len) && !memchr(key, '[', len) &&
	       !memchr(key, '\0', len);
}

/* json_scan_paths against json_path, on paths built from root's keys:
 * "k" for its first members, "k.k2" for the first members of those that
 * are objects, and a few fixed ones. */
static void
check_paths(const char *text, size_t size, const struct json_value *root, struct json_doc *part)
{
	static char buf[JSON_SCAN_PATHS_MAX][96];
	struct json_scan_path p[JSON_SCAN_PATHS_MAX];
	size_t n = 0;
	static const char *const fixed[] = {"d", "d.id", "d.author.bot", "t"};
	for (size_t i = 0; i < 4; i++)
		p[n++].path = fixed[i];
	for (const struct json_value *m = json_first(root); m && n < JSON_SCAN_PATHS_MAX;
	     m = json_next(m)) {
		size_t kl;
		const char *k = json_key(m, &kl);
		if (!path_key(k, kl))
			continue;
		snprintf(buf[n], sizeof buf[n], "%s", k);
		p[n].path = buf[n];
		n++;
		for (const struct json_value *c = json_first(m);
		     c && json_type(m) == JSON_OBJECT && n < JSON_SCAN_PATHS_MAX;
		     c = json_next(c)) {
			size_t cl;
			const char *ck = json_key(c, &cl);
			if (!path_key(ck, cl))
				continue;
			snprintf(buf[n], sizeof buf[n], "%s.%s", k, ck);
			p[n].path = buf[n];
			n++;
		}
	}
	if (json_scan_paths(text, size, p, n) != 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct json_value *want = json_path(root, p[i].path);
		if (!want != !p[i].value.p)
			abort();
		if (want && !json_equal(json_parse(part, p[i].value.p, p[i].value.len), want))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json_doc doc, part;
	json_doc_init(&doc, 1 << 20);
	json_doc_init(&part, 1 << 20);
	const struct json_value *root = json_parse(&doc, text, size);

	/* whatever the input: no crash, whatever the answer */
	struct json_scan_field fixed[] = {
	        {"id", 2, {NULL, 0}}, {"d", 1, {NULL, 0}}, {"t", 1, {NULL, 0}}, {"", 0, {NULL, 0}}};
	int scanned = json_scan_fields(text, size, fixed, 4, 0);
	size_t pos = 0;
	int skipped = json_scan_skip(text, size, &pos);
	struct discord_message_head head;
	(void)discord_message_head_scan(text, size, &head);
	struct json_scan_path any[2] = {{"d.author.bot", {NULL, 0}}, {"a.b.c", {NULL, 0}}};
	int paths_ok = json_scan_paths(text, size, any, 2);
	if (root && (paths_ok == 0) != (json_type(root) == JSON_OBJECT))
		abort();
	for (int i = 0; i < 4; i++) {
		uint64_t id;
		int64_t n;
		char out[32];
		(void)json_span_id(fixed[i].value, &id);
		(void)json_span_int64(fixed[i].value, &n);
		(void)json_span_bool(fixed[i].value);
		(void)json_span_string(fixed[i].value, out, sizeof out, NULL);
	}

	if (root) {
		/* the scanner accepts all the parser accepts */
		if (skipped != 0)
			abort();
		while (pos < size && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' ||
		                      text[pos] == '\r'))
			pos++;
		if (pos != size)
			abort();
		if ((scanned == 0) != (json_type(root) == JSON_OBJECT))
			abort();
	}
	if (root && json_type(root) == JSON_OBJECT) {
		/* the fixed keys: present or absent as json_get says */
		for (int i = 0; i < 4; i++) {
			const struct json_value *want =
			        json_getn(root, fixed[i].key, fixed[i].key_len);
			if (!want != !fixed[i].value.p)
				abort();
			if (want &&
			    !json_equal(json_parse(&part, fixed[i].value.p, fixed[i].value.len),
			                want))
				abort();
			if (want)
				check_readers(fixed[i].value, want);
		}
		/* the iterator: every member, in order */
		struct json_scan s;
		struct json_span k, v;
		struct json_scan_field f[FUZZ_KEYS];
		size_t nf = 0;
		const struct json_value *m = json_first(root);
		if (json_scan_begin(&s, text, size) != 0)
			abort();
		int r;
		while ((r = json_scan_next(&s, &k, &v)) == 1) {
			size_t key_len;
			const char *key = json_key(m, &key_len);
			if (!m || !json_span_key_is(k, key, key_len))
				abort();
			if (!json_equal(json_parse(&part, v.p, v.len), m))
				abort();
			if (nf < FUZZ_KEYS) {
				f[nf].key = key;
				f[nf].key_len = key_len;
				nf++;
			}
			m = json_next(m);
		}
		if (r != 0 || m)
			abort();
		/* by key: the member json_get finds (the first of duplicates) */
		if (json_scan_fields(text, size, f, nf, 0) != 0)
			abort();
		for (size_t i = 0; i < nf; i++) {
			const struct json_value *want = json_getn(root, f[i].key, f[i].key_len);
			if (!f[i].value.p || !want ||
			    !json_equal(json_parse(&part, f[i].value.p, f[i].value.len), want))
				abort();
			check_readers(f[i].value, want);
		}
		/* and stopping early changes nothing for a text read whole */
		struct json_span early[FUZZ_KEYS];
		for (size_t i = 0; i < nf; i++)
			early[i] = f[i].value;
		if (json_scan_fields(text, size, f, nf, JSON_SCAN_STOP_EARLY) != 0)
			abort();
		for (size_t i = 0; i < nf; i++)
			if (early[i].p != f[i].value.p || early[i].len != f[i].value.len)
				abort();
		check_paths(text, size, root, &part);
	}
	json_doc_free(&doc);
	json_doc_free(&part);
	return 0;
}
