/* test_userlimit.c — the per-member rate limit of /propose_* and /report. */
#include "test.h"
#include "userlimit.h"

TEST(userlimit_counts_per_member_per_window)
{
	static struct userlimit l; /* zeroed */
	const int64_t window = 600000;
	for (int i = 0; i < 5; i++)
		CHECK_INT(userlimit_allows(&l, 42, 1000 + i, 5, window), 1);
	CHECK_INT(userlimit_allows(&l, 42, 2000, 5, window), 0); /* the 6th */
	CHECK_INT(userlimit_allows(&l, 43, 2000, 5, window), 1); /* another member */
	CHECK_INT(userlimit_allows(&l, 42, 1000 + window - 1, 5, window), 0);
	CHECK_INT(userlimit_allows(&l, 42, 1000 + window, 5, window), 1); /* a new window */
}

TEST(userlimit_many_members_reuse_the_oldest_slot)
{
	static struct userlimit l;
	/* member 1 uses its one action; then a flood of distinct members */
	CHECK_INT(userlimit_allows(&l, 1, 10, 1, 1000000), 1);
	CHECK_INT(userlimit_allows(&l, 1, 11, 1, 1000000), 0);
	int allowed = 0;
	for (uint64_t u = 2; u < 2 + 2 * USERLIMIT_USERS; u++)
		allowed += userlimit_allows(&l, u, 20 + (int64_t)u, 1, 1000000);
	CHECK_INT(allowed, 2 * USERLIMIT_USERS); /* each new member once */
	/* member 1's slot was taken over: it is forgotten, never a crash */
	CHECK_INT(userlimit_allows(&l, 1, 5000, 1, 1000000), 1);
}
