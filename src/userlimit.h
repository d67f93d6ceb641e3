/* userlimit — a per-member rate limit: at most `limit` actions per member
 * in a fixed window (issue 12.11: /propose_* and /report, so one member
 * cannot flood the admin channel).
 *
 * The table remembers the last USERLIMIT_USERS members; a new member takes
 * the slot whose window started longest ago, so a flood of distinct
 * members forgets a few counts but never grows memory. Pure arithmetic on
 * the caller's clock: no allocation, no I/O. */
#ifndef AGORA_USERLIMIT_H
#define AGORA_USERLIMIT_H

#include <stdint.h>

#define USERLIMIT_USERS 256

struct userlimit_slot {
	uint64_t user_id;
	int64_t window_start_ms;
	long count;
};

struct userlimit {
	struct userlimit_slot slots[USERLIMIT_USERS];
};

/* 1 when user_id may act now (the action is counted), 0 when it already
 * acted `limit` times in the window of window_ms that began with its
 * first counted action. now_ms: a monotonic clock (loop_now). */
int userlimit_allows(struct userlimit *l, uint64_t user_id, int64_t now_ms, long limit,
                     int64_t window_ms);

#endif
