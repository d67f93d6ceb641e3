/* fuzz_json — the JSON parser, and the writer against it.
 *
 * Any input: parsing must not crash, leak or read out of bounds. An input
 * that parses is written back with json_write_value(); the output must
 * parse again into the same tree (types, decoded strings and keys, number
 * text), otherwise the target aborts: the writer's escaping and the
 * parser's decoding must agree on every string the parser accepts. */
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc first, second;
	json_doc_init(&first, 1 << 20);
	json_doc_init(&second, 1 << 20);
	const struct json_value *root = json_parse(&first, (const char *)data, size);
	if (root) {
		/* the accessors on whatever came out */
		(void)json_path_str(root, "d.author.id");
		(void)json_path(root, "[0][1].a");
		int64_t i;
		double d;
		for (const struct json_value *v = json_first(root); v; v = json_next(v)) {
			(void)json_int64(v, &i);
			(void)json_double(v, &d);
			(void)json_key(v, NULL);
		}

		/* re-encoding never lengthens the text by much: escapes come
		 * out no longer than they went in, whitespace goes */
		struct buf out;
		struct json_writer w;
		buf_init(&out, 2 * size + 64);
		json_writer_init(&w, &out);
		json_write_value(&w, root);
		if (json_writer_finish(&w) != 0)
			abort();
		const struct json_value *again = json_parse(&second, out.data, out.len);
		if (!again || !json_equal(root, again))
			abort();
		buf_free(&out);
	}
	json_doc_free(&first);
	json_doc_free(&second);
	return 0;
}
