/* mem — the one allocator entry point, so tests can make allocation fail.
 *
 * Every module allocates through mem_alloc/mem_realloc/mem_free instead of
 * malloc directly. In normal runs they are malloc/realloc/free. Tests call
 * mem_fail_after(n) to make the (n+1)-th allocation from now return NULL,
 * which drives the allocation-failure sweeps (curl, hiredis and SQLite do the
 * same). Not thread-safe: Agora's loop is single-threaded and the DNS thread
 * does not allocate through here. */
#ifndef AGORA_MEM_H
#define AGORA_MEM_H

#include <stddef.h>

/* malloc(size); NULL on failure (or when a test asked for one). */
void *mem_alloc(size_t size);
/* calloc(count, size) with overflow check; NULL on failure. */
void *mem_calloc(size_t count, size_t size);
/* realloc(ptr, size); NULL on failure, ptr then still valid. */
void *mem_realloc(void *ptr, size_t size);
/* realloc(ptr, count * size) with overflow check (OpenBSD's
 * reallocarray): NULL on overflow or failure, ptr then still valid. */
void *mem_reallocarray(void *ptr, size_t count, size_t size);
/* free(ptr); NULL is fine. */
void mem_free(void *ptr);
/* copy of the NUL-terminated s; NULL on failure. */
char *mem_strdup(const char *s);
/* copy of the first len bytes of s plus a NUL; NULL on failure. */
char *mem_strndup(const char *s, size_t len);

/* Tests only: let n more allocations succeed, then fail every one until
 * mem_fail_after(-1). Returns how many allocations succeeded since the last
 * call, so a sweep knows when it has covered every allocation. */
long mem_fail_after(long n);

/* Allocations asked for since the start (alloc, calloc and realloc, NULL
 * answers included): what benchmarks and the hot-path test read to show
 * that counting a message allocates nothing once warm. */
unsigned long long mem_allocations(void);

#endif
