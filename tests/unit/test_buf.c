/* test_buf.c — the growable buffer and the allocation hook under it. */
#include "buf.h"
#include "mem.h"
#include "test.h"

TEST(buf_append_and_printf)
{
	struct buf b;
	buf_init(&b, 1024);
	CHECK_STR(buf_str(&b), "");
	CHECK_INT(buf_puts(&b, "hello"), 0);
	CHECK_INT(buf_printf(&b, " %d-%s", 42, "x"), 0);
	CHECK_STR(buf_str(&b), "hello 42-x");
	CHECK_INT(b.len, 10);
	buf_consume(&b, 6);
	CHECK_STR(buf_str(&b), "42-x");
	buf_consume(&b, 100);
	CHECK_INT(b.len, 0);
	buf_free(&b);
}

TEST(buf_max_is_a_hard_limit)
{
	struct buf b;
	buf_init(&b, 8);
	CHECK_INT(buf_puts(&b, "12345678"), 0);
	CHECK_INT(buf_putc(&b, '9'), -1);
	CHECK_INT(buf_printf(&b, "%s", "x"), -1);
	/* a failed append keeps what was there */
	CHECK_STR(buf_str(&b), "12345678");
	CHECK(b.cap <= 9);
	/* a huge extra must not overflow the size arithmetic */
	CHECK_INT(buf_reserve(&b, (size_t)-1), -1);
	buf_free(&b);
}

TEST(buf_survives_allocation_failure)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	mem_fail_after(0);
	CHECK_INT(buf_puts(&b, "abc"), -1);
	mem_fail_after(-1);
	CHECK_STR(buf_str(&b), "");
	CHECK_INT(buf_puts(&b, "abc"), 0);
	CHECK_STR(buf_str(&b), "abc");
	buf_free(&b);
}
