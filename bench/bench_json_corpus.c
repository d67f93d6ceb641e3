/* bench_json_corpus — JSON parsers on a corpus of varied Discord payloads
 * (issue 13.9), not one hot document.
 *
 *   bench_json_corpus CORPUS    one JSON document per line
 *
 * bench/ingest.py writes the corpus: 1,000 different MESSAGE_CREATE
 * dispatches (the mix the ingest benchmark streams), a ~1.2 MB
 * GUILD_CREATE, and gateway acks. Per contender, the whole corpus per
 * round, the median of ROUNDS rounds of CPU time (rounds interleaved):
 *   agora DOM           json_parse of every document
 *   agora DOM + fields  the same plus what counting looks up
 *   cJSON               cJSON_ParseWithLength + cJSON_Delete
 *   simdjson DOM        dom::parser::parse (parser reused)
 *   simdjson On-Demand  only t, d.channel_id, d.id, d.author.bot
 * Without BENCH_REF (the musl build) ours alone. Prints, asserts nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

#ifdef BENCH_REF
#include <cjson/cJSON.h>
int sjc_add(const char *text, size_t len);
int sjc_dom_all(void);
int sjc_ondemand_fields(uint64_t *sum);
#endif

#define ROUNDS   9
#define MAX_DOCS 8192

static char **doc_text;
static size_t *doc_len;
static size_t ndocs, total_bytes;
static volatile uint64_t sink;
static struct json_doc doc;

static int64_t
cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
ours(void)
{
	for (size_t i = 0; i < ndocs; i++)
		if (!json_parse(&doc, doc_text[i], doc_len[i]))
			return -1;
	return 0;
}

static int
ours_fields(void)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < ndocs; i++) {
		const struct json_value *root = json_parse(&doc, doc_text[i], doc_len[i]);
		if (!root)
			return -1;
		const char *t = json_path_str(root, "t");
		if (!t || strcmp(t, "MESSAGE_CREATE") != 0)
			continue;
		const struct json_value *d = json_get(root, "d");
		uint64_t a = 0, b = 0;
		json_path_id(d, "channel_id", &a);
		json_path_id(d, "id", &b);
		sum += a + b + (uint64_t)(json_bool(json_path(d, "author.bot")) == 1);
	}
	sink = sum;
	return 0;
}

#ifdef BENCH_REF
static int
cjson(void)
{
	for (size_t i = 0; i < ndocs; i++) {
		cJSON *c = cJSON_ParseWithLength(doc_text[i], doc_len[i]);
		if (!c)
			return -1;
		cJSON_Delete(c);
	}
	return 0;
}

static int
sj_dom(void)
{
	return sjc_dom_all();
}

static int
sj_od(void)
{
	uint64_t sum = 0;
	int rc = sjc_ondemand_fields(&sum);
	sink = sum;
	return rc;
}
#endif

struct contender {
	const char *name;
	int (*fn)(void);
	int64_t t[ROUNDS];
};

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		printf("bench_json_corpus: run by bench/ingest.py (needs its corpus)\n");
		return 0;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	doc_text = calloc(MAX_DOCS, sizeof *doc_text);
	doc_len = calloc(MAX_DOCS, sizeof *doc_len);
	size_t cap = 4u << 20;
	char *line = malloc(cap);
	while (ndocs < MAX_DOCS && fgets(line, (int)cap, f)) {
		size_t l = strcspn(line, "\n");
		if (l == 0)
			continue;
		doc_text[ndocs] = malloc(l + 1);
		memcpy(doc_text[ndocs], line, l);
		doc_text[ndocs][l] = '\0';
		doc_len[ndocs++] = l;
		total_bytes += l;
	}
	fclose(f);
	free(line);
	json_doc_init(&doc, 8u << 20);
	struct contender cs[] = {
	        {"agora DOM", ours, {0}},
	        {"agora DOM + counting's fields", ours_fields, {0}},
#ifdef BENCH_REF
	        {"cJSON", cjson, {0}},
	        {"simdjson DOM", sj_dom, {0}},
	        {"simdjson On-Demand (counting's fields)", sj_od, {0}},
#endif
	};
	size_t n = sizeof cs / sizeof cs[0];
#ifdef BENCH_REF
	for (size_t i = 0; i < ndocs; i++)
		if (sjc_add(doc_text[i], doc_len[i]) < 0)
			return 1;
#endif
	for (size_t c = 0; c < n; c++)
		if (cs[c].fn() < 0) { /* warm-up, and a check that all parse */
			fprintf(stderr, "bench_json_corpus: %s fails on the corpus\n", cs[c].name);
			return 1;
		}
	for (int r = 0; r < ROUNDS; r++)
		for (size_t c = 0; c < n; c++) {
			int64_t t0 = cpu_ns();
			cs[c].fn();
			cs[c].t[r] = cpu_ns() - t0;
		}
	printf("json corpus: %zu documents, %.2f MB (varied MESSAGE_CREATEs, a GUILD_CREATE, "
	       "acks); "
	       "median of %d rounds, CPU time\n",
	       ndocs, (double)total_bytes / 1e6, ROUNDS);
	double base = 0;
	for (size_t c = 0; c < n; c++) {
		qsort(cs[c].t, ROUNDS, sizeof cs[c].t[0], cmp64);
		double med = (double)cs[c].t[ROUNDS / 2];
		if (c == 0)
			base = med;
		printf("  %-40s %8.0f MB/s  %7.0f ns/document  %.2fx agora DOM's time\n",
		       cs[c].name, (double)total_bytes * 1e3 / med, med / (double)ndocs,
		       med / base);
	}
	json_doc_free(&doc);
	return 0;
}
