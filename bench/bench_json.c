/* bench_json — how long one Discord gateway event takes to parse.
 *
 *     build/bench/bench_json [FILE]     (./build.sh bench runs it)
 *
 * FILE defaults to tests/data/json/valid/y_discord_message_create.json, a
 * MESSAGE_CREATE dispatch shaped after Discord's Message object (author,
 * member, mentions with members, embeds with fields, an attachment). Prints
 * the best of several rounds in ns per message and, for ours, allocations
 * per message after warm-up (counted through mem's hook; the goal is 0).
 * With BENCH_REF (the glibc build) the same run times cJSON and simdjson's
 * DOM parser on the same text; the musl build times ours alone. Prints
 * figures, asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "json.h"
#include "mem.h"

#ifdef BENCH_REF
#include <cjson/cJSON.h>
int simdjson_shim_load(const char *text, size_t len);
int simdjson_shim_parse(void);
const char *simdjson_shim_implementation(void);
void simdjson_shim_free(void);
const char *simdjson_shim_version(void);
#endif

#ifdef __GLIBC__
#define LIBC "glibc"
#else
#define LIBC "musl"
#endif

#define ROUNDS     40
#define ITERATIONS 2000

static const char *text;
static size_t text_len;
static volatile size_t sink; /* keeps results alive */

static double
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One contender: a name and one call doing one message's work. */
struct contender {
	const char *name;
	void (*fn)(void);
	double best_ns; /* lowest ns per call over the rounds */
};

/* Times every contender ROUNDS times, interleaved round by round, and
 * keeps each one's best round: the machine is shared, and interleaving
 * exposes all of them alike to whatever else runs. */
static void
measure(struct contender *c, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		for (int i = 0; i < 1000; i++)
			c[k].fn(); /* warm-up: caches, branch predictors, arenas */
		c[k].best_ns = 0;
	}
	for (int r = 0; r < ROUNDS; r++) {
		for (size_t k = 0; k < n; k++) {
			double start = now_ns();
			for (int i = 0; i < ITERATIONS; i++)
				c[k].fn();
			double ns = (now_ns() - start) / ITERATIONS;
			if (r == 0 || ns < c[k].best_ns)
				c[k].best_ns = ns;
		}
	}
}

/* ---------------------------------------------------------------- ours */

static struct json_doc doc;

static void
agora_parse(void)
{
	const struct json_value *root = json_parse(&doc, text, text_len);
	if (!root) {
		fprintf(stderr, "bench_json: %s\n", json_doc_error(&doc));
		exit(1);
	}
	sink += json_len(root);
}

/* what the gateway does with an event: parse, then pick a few fields */
static void
agora_parse_and_read(void)
{
	const struct json_value *root = json_parse(&doc, text, text_len);
	const struct json_value *d = json_get(root, "d");
	uint64_t id = 0;
	json_path_id(d, "author.id", &id);
	const char *content = json_path_str(d, "content");
	const char *channel = json_path_str(d, "channel_id");
	const char *title = json_path_str(d, "embeds[0].title");
	sink += id + (content != NULL) + (channel != NULL) + (title != NULL);
}

static struct buf out;

static void
agora_write(void)
{
	struct json_writer w;
	buf_reset(&out);
	json_writer_init(&w, &out);
	json_write_value(&w, json_parse(&doc, text, text_len));
	sink += (size_t)json_writer_finish(&w) + out.len;
}

/* ---------------------------------------------------------------- others */

#ifdef BENCH_REF
static long cjson_allocations;

static void *
counting_malloc(size_t size)
{
	cjson_allocations++;
	return malloc(size);
}

static void
cjson_parse(void)
{
	cJSON *root = cJSON_ParseWithLength(text, text_len);
	if (!root) {
		fprintf(stderr, "bench_json: cJSON rejects the text\n");
		exit(1);
	}
	sink += (size_t)cJSON_GetArraySize(root);
	cJSON_Delete(root);
}

static void
simdjson_parse(void)
{
	if (simdjson_shim_parse() < 0) {
		fprintf(stderr, "bench_json: simdjson rejects the text\n");
		exit(1);
	}
}
#endif

int
main(int argc, char **argv)
{
	const char *path =
	        argc > 1 ? argv[1] : "tests/data/json/valid/y_discord_message_create.json";
	FILE *f = fopen(path, "rb");
	static char data[1 << 16];
	if (!f) {
		perror(path);
		return 1;
	}
	text_len = fread(data, 1, sizeof data, f);
	fclose(f);
	text = data;
	json_doc_init(&doc, sizeof data);
	buf_init(&out, 1 << 20);

	struct contender c[] = {
	        {"agora", agora_parse, 0},
	        {"agora: parse + 4 lookups", agora_parse_and_read, 0},
	        {"agora: parse + write back", agora_write, 0},
#ifdef BENCH_REF
	        {"cJSON", cjson_parse, 0},
	        {"simdjson", simdjson_parse, 0},
#endif
	};
	size_t n = sizeof c / sizeof c[0];
#ifdef BENCH_REF
	cJSON_Hooks hooks = {counting_malloc, free};
	cJSON_InitHooks(&hooks);
	if (simdjson_shim_load(text, text_len) < 0)
		return 1;
#endif
	printf("json: %zu-byte MESSAGE_CREATE (%s), best of %d rounds x %d, interleaved, %s\n",
	       text_len, path, ROUNDS, ITERATIONS, LIBC);
	measure(c, n);

	mem_fail_after(-1); /* counts our allocations from here on */
	for (int i = 0; i < ITERATIONS; i++)
		agora_parse();
	double allocs = (double)mem_fail_after(-1) / ITERATIONS;
	printf("json parse (agora, %s): %.0f ns/msg, %.0f MB/s, %g allocs/msg\n", LIBC,
	       c[0].best_ns, (double)text_len / c[0].best_ns * 1e3, allocs);
	printf("json parse + 4 lookups (agora, %s): %.0f ns/msg\n", LIBC, c[1].best_ns);
	printf("json parse + write back (agora, %s): %.0f ns/msg\n", LIBC, c[2].best_ns);
#ifdef BENCH_REF
	cjson_allocations = 0;
	for (int i = 0; i < ITERATIONS; i++)
		cjson_parse();
	printf("json parse (cJSON %d.%d.%d, %s): %.0f ns/msg, %.0f MB/s, %g allocs/msg\n",
	       CJSON_VERSION_MAJOR, CJSON_VERSION_MINOR, CJSON_VERSION_PATCH, LIBC, c[3].best_ns,
	       (double)text_len / c[3].best_ns * 1e3, (double)cjson_allocations / ITERATIONS);
	printf("json parse (simdjson %s DOM, %s kernel, %s): %.0f ns/msg, %.0f MB/s, parser "
	       "reused\n",
	       simdjson_shim_version(), simdjson_shim_implementation(), LIBC, c[4].best_ns,
	       (double)text_len / c[4].best_ns * 1e3);
	printf("json parse: agora takes %.2fx the time of simdjson, %.2fx that of cJSON\n",
	       c[0].best_ns / c[4].best_ns, c[0].best_ns / c[3].best_ns);
	simdjson_shim_free();
#endif
	json_doc_free(&doc);
	buf_free(&out);
	return 0;
}
