/* userlimit — see userlimit.h. */
#include "userlimit.h"

#include <stddef.h>

int
userlimit_allows(struct userlimit *l, uint64_t user_id, int64_t now_ms, long limit,
                 int64_t window_ms)
{
	struct userlimit_slot *slot = NULL, *oldest = &l->slots[0];
	for (int i = 0; i < USERLIMIT_USERS; i++) {
		if (l->slots[i].user_id == user_id) {
			slot = &l->slots[i];
			break;
		}
		if (l->slots[i].window_start_ms < oldest->window_start_ms)
			oldest = &l->slots[i];
	}
	if (!slot) {
		slot = oldest;
		slot->user_id = user_id;
		slot->window_start_ms = now_ms;
		slot->count = 0;
	}
	if (now_ms - slot->window_start_ms >= window_ms) {
		slot->window_start_ms = now_ms;
		slot->count = 0;
	}
	if (slot->count >= limit)
		return 0;
	slot->count++;
	return 1;
}
