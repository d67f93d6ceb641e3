/* fuzz_jsonkeep — the streaming JSON pruner, differential against the DOM.
 *
 * Input layout: byte 0 seeds the chunk sizes, byte 1 picks the rules; the
 * rest is the JSON text. Checked for every input:
 *   - fed in pseudo-random chunks, the pruner accepts exactly when
 *     json_parse accepts (the same strictness);
 *   - fed whole it gives byte for byte the same output as chunked;
 *   - when accepted, its output parses, and equals (json_equal) the DOM
 *     pruned by jsonkeep_prune_dom with the same rules;
 *   - nothing crashes or leaks, whatever the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "jsonkeep.h"

#define FUZZ_MAX (1 << 20)

static const struct jsonkeep_spec fk_leaf[] = {
        {"id", NULL}, {"name", NULL}, {"t", NULL}, {"\xc3\xa9", NULL}, {NULL, NULL}};
static const struct jsonkeep_spec fk_mid[] = {
        {"id", NULL}, {"a", fk_leaf}, {"b", fk_leaf}, {"", NULL}, {NULL, NULL}};
static const struct jsonkeep_spec fk_root[] = {
        {"op", NULL}, {"s", NULL}, {"t", NULL}, {"d", fk_mid}, {NULL, NULL}};
static const struct jsonkeep_spec fk_drop_all[] = {{NULL, NULL}};
static const struct jsonkeep_spec fk_d_only[] = {{"d", fk_drop_all}, {"x", fk_mid}, {NULL, NULL}};

static const struct jsonkeep_rule fk_rules_a[] = {
        {"GUILD_CREATE", fk_root}, {"A", fk_d_only}, {"\xc3\xa9", fk_root}, {NULL, NULL}};
static const struct jsonkeep_rule fk_rules_b[] = {{"", fk_mid}, {"t", fk_drop_all}, {NULL, NULL}};
static const struct jsonkeep_rule *const fk_rule_sets[] = {fk_rules_a, fk_rules_b, NULL};

static uint32_t
fk_next(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 16;
}

/* Prunes text in chunks (max_chunk 0: whole); 0 or -1. */
static int
fk_prune(struct jsonkeep *k, const uint8_t *text, size_t len, uint32_t seed, int whole)
{
	jsonkeep_reset(k);
	size_t at = 0;
	while (at < len) {
		size_t n = whole ? len : 1 + fk_next(&seed) % 97;
		if (n > len - at)
			n = len - at;
		if (jsonkeep_feed(k, text + at, n) < 0)
			return -1;
		at += n;
	}
	return jsonkeep_finish(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > FUZZ_MAX)
		return 0;
	uint32_t seed = data[0];
	const struct jsonkeep_rule *rules = fk_rule_sets[data[1] % 3];
	const uint8_t *text = data + 2;
	size_t len = size - 2;

	struct json_doc doc, pruned_doc, ref_doc;
	json_doc_init(&doc, FUZZ_MAX);
	json_doc_init(&pruned_doc, FUZZ_MAX);
	json_doc_init(&ref_doc, FUZZ_MAX);
	struct jsonkeep k, whole;
	jsonkeep_init(&k, rules, FUZZ_MAX);
	jsonkeep_init(&whole, rules, FUZZ_MAX);
	struct buf ref;
	buf_init(&ref, FUZZ_MAX * 2);

	const struct json_value *root = json_parse(&doc, (const char *)text, len);
	int rc = fk_prune(&k, text, len, seed, 0);
	int rc_whole = fk_prune(&whole, text, len, seed, 1);
	if (rc != rc_whole)
		abort();
	if ((root != NULL) != (rc == 0))
		abort(); /* the pruner is exactly as strict as the parser */
	if (rc == 0) {
		size_t out_len, whole_len;
		const char *out = jsonkeep_output(&k, &out_len);
		const char *out_whole = jsonkeep_output(&whole, &whole_len);
		if (out_len != whole_len || memcmp(out, out_whole, out_len) != 0)
			abort();
		if (out_len > len)
			abort(); /* pruning never lengthens */
		const struct json_value *got = json_parse(&pruned_doc, out, out_len);
		if (!got)
			abort();
		struct json_writer w;
		json_writer_init(&w, &ref);
		jsonkeep_prune_dom(&w, root, rules);
		if (json_writer_finish(&w) < 0)
			abort();
		const struct json_value *want = json_parse(&ref_doc, ref.data, ref.len);
		if (!want || !json_equal(got, want))
			abort();
	} else if (jsonkeep_error(&k)[0] == '\0') {
		abort();
	}

	buf_free(&ref);
	jsonkeep_free(&k);
	jsonkeep_free(&whole);
	json_doc_free(&doc);
	json_doc_free(&pruned_doc);
	json_doc_free(&ref_doc);
	return 0;
}
