/* test.h — the unit test helpers (after redis's testhelp.h).
 *
 * A test is a function written as TEST(name) { ... } at the start of a line
 * in any tests/unit/test_<module>.c; the Makefile collects every such line
 * into the runner's table, so there is nothing to register by hand. CHECK()
 * logs file:line and the failed expression, and the test goes on, so one run
 * shows every broken expectation. A test passes when none of its checks
 * failed; run.c prints "N passed, N failed" at the end. */
#ifndef AGORA_TEST_H
#define AGORA_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TEST(name)                                                                                 \
	void test_##name(void);                                                                    \
	void test_##name(void)

/* 1 if cond holds; otherwise records a failure and returns 0 */
int test_check(int cond, const char *expr, const char *file, int line);
int test_check_str(const char *got, const char *want, const char *expr, const char *file, int line);
int test_check_int(long long got, long long want, const char *expr, const char *file, int line);

#define CHECK(cond)          test_check(!!(cond), #cond, __FILE__, __LINE__)
#define CHECK_STR(got, want) test_check_str((got), (want), #got, __FILE__, __LINE__)
#define CHECK_INT(got, want)                                                                       \
	test_check_int((long long)(got), (long long)(want), #got, __FILE__, __LINE__)

/* A temp directory for this test run (created on first use, removed at exit). */
const char *test_tmpdir(void);
/* Writes text to test_tmpdir()/name and returns the path (static buffer). */
const char *test_write_file(const char *name, const char *text);
/* A listening TCP socket on 127.0.0.1 with a kernel-chosen port (in
 * *port); -1 on error. */
int test_listen(uint16_t *port);
/* Reads a whole file into a malloc'd NUL-terminated string; NULL on error. */
char *test_read_file(const char *path, size_t *len);

/* The files of a directory (names not starting with '.'), sorted by name
 * so every run walks them in the same order. */
struct test_files {
	size_t count;
	char **names; /* "y_case.json" */
	char **paths; /* "dir/y_case.json" */
};
/* 0, or -1 when dir cannot be read (out is then empty). */
int test_files(const char *dir, struct test_files *out);
void test_files_free(struct test_files *files);

/* The tests' one random generator: xorshift64, reproducible from its
 * seed and free of libc's rand state (random splits, shuffles). */
void test_rand_seed(uint64_t seed);
uint32_t test_rand(void);

#endif
