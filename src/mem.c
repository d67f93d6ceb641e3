/* mem — see mem.h. */
#include "mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* -1: never fail; otherwise the number of allocations still allowed */
static long fail_countdown = -1;
static long allocations_since_reset;
static unsigned long long allocations_total;

static int
should_fail(void)
{
	allocations_total++;
	if (fail_countdown < 0) {
		allocations_since_reset++;
		return 0;
	}
	if (fail_countdown == 0)
		return 1;
	fail_countdown--;
	allocations_since_reset++;
	return 0;
}

void *
mem_alloc(size_t size)
{
	if (should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *
mem_calloc(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	if (should_fail())
		return NULL;
	return calloc(count ? count : 1, size ? size : 1);
}

void *
mem_realloc(void *ptr, size_t size)
{
	if (should_fail())
		return NULL;
	return realloc(ptr, size ? size : 1);
}

void *
mem_reallocarray(void *ptr, size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	return mem_realloc(ptr, count * size);
}

void
mem_free(void *ptr)
{
	free(ptr);
}

char *
mem_strndup(const char *s, size_t len)
{
	if (len == SIZE_MAX)
		return NULL;
	char *copy = mem_alloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

char *
mem_strdup(const char *s)
{
	return mem_strndup(s, strlen(s));
}

long
mem_fail_after(long n)
{
	long done = allocations_since_reset;
	allocations_since_reset = 0;
	fail_countdown = n;
	return done;
}

unsigned long long
mem_allocations(void)
{
	return allocations_total;
}
