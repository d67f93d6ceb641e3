/* run.c — the unit test runner.
 *
 *     build/musl/unit            run every test
 *     build/musl/unit json       run the tests whose name contains "json"
 *
 * Runs from the repository root (build.sh does), so tests find tests/data and
 * tests/fuzz/corpus by relative path. Every fuzz target's checked-in corpus
 * is replayed through the target as one more test (SQLite's habit): a plain
 * build then exercises every input the fuzzer ever found interesting.
 * Ends with "N passed, N failed"; exit status 1 if any test failed. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define T(name) void test_##name(void);
#define F(name) int fuzz_one_##name(const uint8_t *data, size_t size);
#include "tests.inc"
#undef T
#undef F

static void replay_corpus(const char *name, int (*one)(const uint8_t *, size_t))
        __attribute__((unused));

#define T(name)                                                                                    \
	static void run_##name(void)                                                               \
	{                                                                                          \
		test_##name();                                                                     \
	}
#define F(name)                                                                                    \
	static void run_fuzz_##name(void)                                                          \
	{                                                                                          \
		replay_corpus(#name, fuzz_one_##name);                                             \
	}
#include "tests.inc"
#undef T
#undef F

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
#define T(name) {#name, run_##name},
#define F(name) {"fuzz_corpus_" #name, run_fuzz_##name},
#include "tests.inc"
#undef T
#undef F
};

static int current_failures;
static const char *current_name;

static void
report(const char *file, int line, const char *what)
{
	printf("    FAIL %s:%d: %s (in %s)\n", file, line, what, current_name);
	current_failures++;
}

int
test_check(int cond, const char *expr, const char *file, int line)
{
	if (!cond)
		report(file, line, expr);
	return cond;
}

int
test_check_str(const char *got, const char *want, const char *expr, const char *file, int line)
{
	if (got && want && strcmp(got, want) == 0)
		return 1;
	if (!got && !want)
		return 1;
	char msg[1024];
	snprintf(msg, sizeof msg, "%s is \"%.400s\", expected \"%.400s\"", expr,
	         got ? got : "(null)", want ? want : "(null)");
	report(file, line, msg);
	return 0;
}

int
test_check_int(long long got, long long want, const char *expr, const char *file, int line)
{
	if (got == want)
		return 1;
	char msg[512];
	snprintf(msg, sizeof msg, "%s is %lld, expected %lld", expr, got, want);
	report(file, line, msg);
	return 0;
}

static char tmpdir[256];

static void
remove_tmpdir(void)
{
	if (!tmpdir[0])
		return;
	struct test_files files;
	test_files(tmpdir, &files);
	for (size_t i = 0; i < files.count; i++)
		unlink(files.paths[i]);
	test_files_free(&files);
	rmdir(tmpdir);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
test_files(const char *dir, struct test_files *out)
{
	memset(out, 0, sizeof *out);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (out->count == cap) {
			cap = cap ? cap * 2 : 64;
			char **names = realloc(out->names, cap * sizeof *names);
			if (!names)
				break;
			out->names = names;
		}
		if (!(out->names[out->count] = strdup(e->d_name)))
			break;
		out->count++;
	}
	closedir(d);
	if (out->count)
		qsort(out->names, out->count, sizeof *out->names, by_name);
	out->paths = calloc(out->count ? out->count : 1, sizeof *out->paths);
	for (size_t i = 0; out->paths && i < out->count; i++) {
		size_t n = strlen(dir) + strlen(out->names[i]) + 2;
		if (!(out->paths[i] = malloc(n))) {
			test_files_free(out);
			return -1;
		}
		snprintf(out->paths[i], n, "%s/%s", dir, out->names[i]);
	}
	if (!out->paths) {
		test_files_free(out);
		return -1;
	}
	return 0;
}

void
test_files_free(struct test_files *files)
{
	for (size_t i = 0; i < files->count; i++) {
		free(files->names[i]);
		if (files->paths)
			free(files->paths[i]);
	}
	free(files->names);
	free(files->paths);
	memset(files, 0, sizeof *files);
}

static uint64_t rand_state = 0x2545f4914f6cdd1dULL;

void
test_rand_seed(uint64_t seed)
{
	rand_state = seed ? seed : 0x2545f4914f6cdd1dULL; /* xorshift must not start at 0 */
}

uint32_t
test_rand(void)
{
	rand_state ^= rand_state << 13;
	rand_state ^= rand_state >> 7;
	rand_state ^= rand_state << 17;
	return (uint32_t)(rand_state >> 16);
}

const char *
test_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir, sizeof tmpdir, "%s/agora-unit-XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(2);
		}
		atexit(remove_tmpdir);
	}
	return tmpdir;
}

const char *
test_write_file(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

int
test_listen(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

char *
test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *data = malloc(cap);
	size_t got;
	while (data && (got = fread(data + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (cap - n - 1 == 0) {
			char *bigger = realloc(data, cap * 2);
			if (!bigger) {
				free(data);
				data = NULL;
				break;
			}
			data = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	if (data) {
		data[n] = '\0';
		if (len)
			*len = n;
	}
	return data;
}

/* Feeds every file of tests/fuzz/corpus/NAME to the fuzz target; passing
 * means no crash (ASan aborts on memory errors) and a zero return. */
static void
replay_corpus(const char *name, int (*one)(const uint8_t *, size_t))
{
	char dir[256];
	snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", name);
	struct test_files list;
	if (test_files(dir, &list) < 0) {
		/* a target without a corpus is a mistake: it would replay nothing */
		char msg[300];
		snprintf(msg, sizeof msg, "no corpus directory %s", dir);
		test_check(0, msg, __FILE__, __LINE__);
		return;
	}
	int files = 0;
	for (size_t i = 0; i < list.count; i++) {
		const char *path = list.paths[i];
		size_t len;
		char *data = test_read_file(path, &len);
		if (!data) {
			test_check(0, path, __FILE__, __LINE__);
			continue;
		}
		test_check(one((const uint8_t *)data, len) == 0, path, __FILE__, __LINE__);
		free(data);
		files++;
	}
	test_files_free(&list);
	test_check(files > 0, "corpus has at least one file", __FILE__, __LINE__);
}

int
main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0;
	/* a peer closing a socket must fail a test, not kill the runner */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		if (filter && !strstr(tests[i].name, filter))
			continue;
		current_name = tests[i].name;
		current_failures = 0;
		tests[i].fn();
		if (current_failures) {
			printf("[FAIL] %s\n", tests[i].name);
			failed++;
		} else {
			printf("[ok] %s\n", tests[i].name);
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
