/* cmd_core — /status (spec 6.6, cogs/core.py): a live round trip to
 * PostgreSQL and Redis, answered ephemerally within Discord's 3 seconds,
 * with a "Check again" button that re-runs the check in place. */
#include <string.h>

#include "bot.h"
#include "mem.h"

/* One action row with one secondary button (docs: Components). */
static const char check_again[] = "[{\"type\":1,\"components\":[{\"type\":2,\"style\":2,"
                                  "\"label\":\"Check again\",\"custom_id\":\"status:refresh\"}]}]";

struct status_reply {
	struct bot *bot;
	struct interaction it; /* a copy: the event is gone when the check ends */
	int refresh;           /* answer by updating the message the button is on */
};

static void
on_status(void *data, int healthy, int db_ok, int cache_ok, int gateway_ok, const char *summary)
{
	(void)healthy;
	(void)db_ok;
	(void)cache_ok;
	(void)gateway_ok;
	struct status_reply *r = data;
	if (r->refresh)
		bot_update_message(r->bot, &r->it, summary, NULL, check_again);
	else
		bot_reply_components(r->bot, &r->it, summary, NULL, 1, check_again);
	mem_free(r);
}

static void
check(struct bot *b, const struct interaction *it, int refresh)
{
	struct status_reply *r = mem_alloc(sizeof *r);
	if (!r) {
		bot_reply(b, it, "Status: check failed: out of memory.", NULL, 1);
		return;
	}
	r->bot = b;
	r->it = *it;
	r->it.data = NULL;
	r->refresh = refresh;
	bot_check_status(b, on_status, r);
}

void
cmd_status(struct bot *b, const struct interaction *it)
{
	check(b, it, 0);
}

void
cmd_status_refresh(struct bot *b, const struct interaction *it)
{
	check(b, it, 1);
}
