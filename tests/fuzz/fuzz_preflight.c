/* fuzz_preflight — Discord's answers (guild, member, channel list) through
 * preflight's readers and verdicts.
 *
 * Any input parsed as JSON is handed to all three readers as if it were each
 * answer (an object, an array or anything else), then every verdict is
 * written at several capacities: no crash, no read or write out of bounds,
 * lines always NUL-terminated within the capacity. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "preflight.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct preflight_world w;
	memset(&w, 0, sizeof w);
	w.guild_id = 100;
	w.bot_id = 200;
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	const struct json_value *root = json_parse(&doc, (const char *)data, size);
	static const struct preflight_target t[] = {
	        {"A_CHANNEL_ID", 10, PERMISSIONS_TEXT_CHANNEL},
	        {"B_CATEGORY_ID", 11, PERMISSIONS_CATEGORY},
	        {"C_CHANNEL_ID", 12, PERMISSIONS_TEXT_CHANNEL},
	};
	char err[128];
	preflight_read_guild(&w, root, err, sizeof err);
	preflight_read_member(&w, root, err, sizeof err);
	/* the channels may sit in the document's "channels" member too */
	preflight_read_channels(&w, root, t, 3, err, sizeof err);
	preflight_read_channels(&w, json_get(root, "channels"), t, 3, err, sizeof err);
	static const size_t caps[] = {1, 7, 64, PREFLIGHT_LINE_MAX};
	char out[PREFLIGHT_LINE_MAX + 8];
	for (size_t c = 0; c < sizeof caps / sizeof *caps; c++) {
		for (size_t i = 0; i <= 3; i++) {
			memset(out, 'Z', sizeof out);
			if (i < 3)
				preflight_judge_target(&w, &t[i], i, out, caps[c]);
			else
				preflight_judge_guild(&w, out, caps[c]);
			if (strnlen(out, caps[c]) >= caps[c] || out[caps[c]] != 'Z')
				abort();
		}
	}
	json_doc_free(&doc);
	return 0;
}
