/* jsonkeep — see jsonkeep.h. */
#include "jsonkeep.h"

#include <stdio.h>
#include <string.h>

enum jk_state {
	JK_VALUE,     /* a value is next */
	JK_ARR_FIRST, /* after '[': a value or ']' */
	JK_OBJ_FIRST, /* after '{': a key or '}' */
	JK_KEY,       /* after ',' in an object: a key */
	JK_COLON,     /* after a key */
	JK_AFTER,     /* after a value inside a container: ',' or the close */
	JK_STRING,    /* inside a string (sub: 0 plain, 1 after '\\', 2 in \u) */
	JK_NUMBER,    /* inside a number (sub: enum jk_num) */
	JK_LITERAL,   /* inside true/false/null */
	JK_END,       /* the root value is complete: whitespace only */
};

/* RFC 8259 section 6, one state per position in the grammar */
enum jk_num {
	NUM_MINUS, /* after '-': a digit */
	NUM_ZERO,  /* a leading 0: '.', 'e' or the end */
	NUM_INT,   /* integer digits */
	NUM_DOT,   /* after '.': a digit */
	NUM_FRAC,  /* fraction digits */
	NUM_E,     /* after 'e': sign or digit */
	NUM_ESIGN, /* after the exponent's sign: a digit */
	NUM_EXP,   /* exponent digits */
};

#define JK_REPLACEMENT 0xFFFDu

static int
jk_fail(struct jsonkeep *k, const char *why)
{
	if (!k->failed)
		snprintf(k->error, sizeof k->error, "offset %zu: %s", k->offset, why);
	k->failed = 1;
	return -1;
}

void
jsonkeep_init(struct jsonkeep *k, const struct jsonkeep_rule *rules, size_t max_out)
{
	memset(k, 0, sizeof *k);
	k->rules = rules;
	buf_init(&k->out, max_out);
	jsonkeep_reset(k);
}

void
jsonkeep_free(struct jsonkeep *k)
{
	buf_free(&k->out);
}

void
jsonkeep_reset(struct jsonkeep *k)
{
	struct buf out = k->out;
	const struct jsonkeep_rule *rules = k->rules;
	/* the stack is not cleared: only frames below depth are ever read */
	k->state = JK_VALUE;
	k->sub = 0;
	k->failed = k->done = 0;
	k->offset = 0;
	k->depth = 0;
	k->emit = 1;
	k->spec = NULL;
	k->is_key = k->capture = k->t_member = k->t_seen = 0;
	k->rule = NULL;
	k->literal = NULL;
	k->literal_at = 0;
	k->utf8_need = 0;
	k->hex = k->pending_hi = 0;
	k->dec_len = 0;
	k->dec_over = 0;
	k->error[0] = '\0';
	k->out = out;
	k->rules = rules;
	buf_reset(&k->out);
}

/* ------------------------------------------------------------ output */

static int
jk_put(struct jsonkeep *k, char c)
{
	/* the common case without buf_append's checks; +1 keeps room for
	 * the NUL that jsonkeep_finish writes */
	if (k->out.len + 1 < k->out.cap) {
		k->out.data[k->out.len++] = c;
		return 0;
	}
	if (buf_append(&k->out, &c, 1) < 0)
		return jk_fail(k, "output larger than the limit");
	return 0;
}

static int
jk_write(struct jsonkeep *k, const char *s, size_t n)
{
	if (buf_append(&k->out, s, n) < 0)
		return jk_fail(k, "output larger than the limit");
	return 0;
}

/* ------------------------------------------------------------ decoding */

static void
jk_dec_bytes(struct jsonkeep *k, const char *s, size_t n)
{
	if (k->dec_over || n > sizeof k->dec - k->dec_len) {
		k->dec_over = 1;
		return;
	}
	memcpy(k->dec + k->dec_len, s, n);
	k->dec_len += n;
}

static void
jk_dec_cp(struct jsonkeep *k, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	jk_dec_bytes(k, u, n);
}

/* A high surrogate escape not followed by a low one is U+FFFD, as in
 * json.c (a JavaScript client cut a string inside a pair). */
static void
jk_dec_flush_hi(struct jsonkeep *k)
{
	if (k->pending_hi) {
		k->pending_hi = 0;
		jk_dec_cp(k, JK_REPLACEMENT);
	}
}

static void
jk_dec_u(struct jsonkeep *k, uint32_t cp)
{
	if (k->pending_hi) {
		if (cp >= 0xDC00 && cp <= 0xDFFF) {
			cp = 0x10000 + ((k->pending_hi - 0xD800) << 10) + (cp - 0xDC00);
			k->pending_hi = 0;
			jk_dec_cp(k, cp);
			return;
		}
		jk_dec_flush_hi(k);
	}
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		jk_dec_cp(k, JK_REPLACEMENT);
	else if (cp >= 0xD800 && cp <= 0xDBFF)
		k->pending_hi = cp;
	else
		jk_dec_cp(k, cp);
}

/* The spec entry for the decoded key in dec[], or NULL. */
static const struct jsonkeep_spec *
jk_lookup(const struct jsonkeep *k, const struct jsonkeep_spec *spec)
{
	if (k->dec_over)
		return NULL;
	for (; spec && spec->key; spec++)
		if (strlen(spec->key) == k->dec_len && memcmp(spec->key, k->dec, k->dec_len) == 0)
			return spec;
	return NULL;
}

/* ------------------------------------------------------------ structure */

/* The value that just ended was the root or an item of the top frame. */
static void
jk_value_done(struct jsonkeep *k)
{
	if (k->depth == 0) {
		k->state = JK_END;
		k->done = 1;
	} else {
		k->state = JK_AFTER;
	}
}

static int
jk_close(struct jsonkeep *k, char c)
{
	struct jsonkeep_frame *f = &k->stack[k->depth - 1];
	if (c != (f->is_object ? '}' : ']'))
		return jk_fail(k, f->is_object ? "expected ',' or '}'" : "expected ',' or ']'");
	if (f->emit && jk_put(k, c) < 0)
		return -1;
	k->depth--;
	jk_value_done(k);
	return 0;
}

/* An array element is next: it inherits the array's mode. */
static void
jk_element_next(struct jsonkeep *k)
{
	const struct jsonkeep_frame *f = &k->stack[k->depth - 1];
	k->emit = f->emit;
	k->spec = f->spec;
	k->state = JK_VALUE;
}

static int
jk_key_begin(struct jsonkeep *k)
{
	struct jsonkeep_frame *f = &k->stack[k->depth - 1];
	if (f->emit) {
		/* written now, taken back at the ':' if the member is dropped */
		f->mark = k->out.len;
		if (f->count > 0 && jk_put(k, ',') < 0)
			return -1;
		if (jk_put(k, '"') < 0)
			return -1;
	}
	k->is_key = 1;
	k->capture = f->emit && (f->spec || f->root);
	k->dec_len = 0;
	k->dec_over = 0;
	k->pending_hi = 0;
	k->utf8_need = 0;
	k->state = JK_STRING;
	k->sub = 0;
	return 0;
}

/* The key is read and ':' seen: keep or drop the member. */
static int
jk_member(struct jsonkeep *k)
{
	struct jsonkeep_frame *f = &k->stack[k->depth - 1];
	int keep = 0;
	const struct jsonkeep_spec *sub = NULL;
	k->t_member = 0;
	if (!f->emit) {
		keep = 0;
	} else if (f->root && k->rule) {
		const struct jsonkeep_spec *e = jk_lookup(k, k->rule);
		keep = e != NULL;
		sub = e ? e->sub : NULL;
	} else if (f->root) {
		keep = 1;
		if (!k->t_seen && !k->dec_over && k->dec_len == 1 && k->dec[0] == 't') {
			k->t_seen = 1;
			k->t_member = 1;
		}
	} else if (!f->spec) {
		keep = 1;
	} else {
		const struct jsonkeep_spec *e = jk_lookup(k, f->spec);
		keep = e != NULL;
		sub = e ? e->sub : NULL;
	}
	if (f->emit) {
		if (keep) {
			if (jk_put(k, ':') < 0)
				return -1;
			f->count++;
		} else {
			k->out.len = f->mark;
		}
	}
	k->emit = (uint8_t)keep;
	k->spec = sub;
	k->state = JK_VALUE;
	return 0;
}

/* The first byte of a value (whitespace skipped). */
static int
jk_value_begin(struct jsonkeep *k, unsigned char c)
{
	if (k->depth > 0) {
		struct jsonkeep_frame *f = &k->stack[k->depth - 1];
		if (!f->is_object && f->emit && f->count++ > 0 && jk_put(k, ',') < 0)
			return -1;
	}
	if (c != '"')
		k->t_member = 0;
	switch (c) {
	case '"':
		k->is_key = 0;
		k->capture = k->t_member;
		k->dec_len = 0;
		k->dec_over = 0;
		k->pending_hi = 0;
		k->utf8_need = 0;
		k->state = JK_STRING;
		k->sub = 0;
		return k->emit ? jk_put(k, '"') : 0;
	case '{':
	case '[': {
		if (k->depth == JSON_MAX_DEPTH)
			return jk_fail(k, "nesting too deep");
		struct jsonkeep_frame *f = &k->stack[k->depth++];
		f->is_object = c == '{';
		f->emit = k->emit;
		f->spec = k->spec;
		f->root = k->depth == 1 && c == '{';
		f->count = 0;
		f->mark = 0;
		k->state = c == '{' ? JK_OBJ_FIRST : JK_ARR_FIRST;
		return k->emit ? jk_put(k, (char)c) : 0;
	}
	case 't':
		k->literal = "true";
		break;
	case 'f':
		k->literal = "false";
		break;
	case 'n':
		k->literal = "null";
		break;
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			k->state = JK_NUMBER;
			k->sub = c == '-' ? NUM_MINUS : c == '0' ? NUM_ZERO : NUM_INT;
			return k->emit ? jk_put(k, (char)c) : 0;
		}
		return jk_fail(k, "expected a value");
	}
	k->literal_at = 1;
	k->state = JK_LITERAL;
	return k->emit ? jk_put(k, (char)c) : 0;
}

/* Whether the string being read goes to the output: a key goes with its
 * object (taken back at the ':' if its member is dropped). */
static int
jk_str_out(const struct jsonkeep *k)
{
	return k->is_key ? k->stack[k->depth - 1].emit : k->emit;
}

/* The closing quote of a string. */
static int
jk_string_end(struct jsonkeep *k)
{
	if (k->capture)
		jk_dec_flush_hi(k);
	if (jk_str_out(k) && jk_put(k, '"') < 0)
		return -1;
	if (k->is_key) {
		k->state = JK_COLON;
		return 0;
	}
	if (k->t_member) {
		/* the root's "t": it picks the spec for the members after it */
		k->t_member = 0;
		if (!k->dec_over)
			for (const struct jsonkeep_rule *r = k->rules; r && r->t; r++)
				if (strlen(r->t) == k->dec_len &&
				    memcmp(r->t, k->dec, k->dec_len) == 0) {
					k->rule = r->root;
					break;
				}
	}
	jk_value_done(k);
	return 0;
}

static int
jk_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One byte inside a string, not the fast plain-ASCII run. */
static int
jk_string_byte(struct jsonkeep *k, unsigned char c, int out)
{
	if (k->sub == 1) {
		static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
		if (out && jk_put(k, (char)c) < 0)
			return -1;
		if (c == 'u') {
			k->sub = 2;
			k->hex = 0;
			k->literal_at = 0; /* hex digits read */
			return 0;
		}
		const char *p = c ? strchr(from, c) : NULL;
		if (!p)
			return jk_fail(k, "invalid escape in string");
		if (k->capture) {
			jk_dec_flush_hi(k);
			jk_dec_bytes(k, &to[p - from], 1);
		}
		k->sub = 0;
		return 0;
	}
	if (k->sub == 2) {
		int v = jk_hexval(c);
		if (v < 0)
			return jk_fail(k, "\\u must be followed by four hex digits");
		if (out && jk_put(k, (char)c) < 0)
			return -1;
		k->hex = k->hex << 4 | (uint32_t)v;
		if (++k->literal_at == 4) {
			if (k->capture)
				jk_dec_u(k, k->hex);
			k->sub = 0;
		}
		return 0;
	}
	if (k->utf8_need > 0) {
		if (c < k->utf8_lo || c > k->utf8_hi)
			return jk_fail(k, "invalid UTF-8 in string");
		k->utf8_need--;
		k->utf8_lo = 0x80;
		k->utf8_hi = 0xBF;
	} else if (c == '"') {
		return jk_string_end(k);
	} else if (c == '\\') {
		k->sub = 1;
		return out ? jk_put(k, (char)c) : 0;
	} else if (c < 0x20) {
		return jk_fail(k, "control character in string");
	} else if (c >= 0x80) {
		/* RFC 3629: no overlong forms, no surrogates, nothing past
		 * U+10FFFF; the bounds are the second byte's */
		k->utf8_lo = 0x80;
		k->utf8_hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			k->utf8_need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k->utf8_need = 2;
			if (c == 0xE0)
				k->utf8_lo = 0xA0;
			else if (c == 0xED)
				k->utf8_hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k->utf8_need = 3;
			if (c == 0xF0)
				k->utf8_lo = 0x90;
			else if (c == 0xF4)
				k->utf8_hi = 0x8F;
		} else {
			return jk_fail(k, "invalid UTF-8 in string");
		}
	}
	if (k->capture) {
		jk_dec_flush_hi(k);
		char b = (char)c;
		jk_dec_bytes(k, &b, 1);
	}
	return out ? jk_put(k, (char)c) : 0;
}

/* One byte of a number: 0 taken, 1 the number ended before it (the byte
 * is read again as what follows), -1 invalid. */
static int
jk_number_byte(struct jsonkeep *k, unsigned char c)
{
	int digit = c >= '0' && c <= '9';
	int next = -1;
	switch (k->sub) {
	case NUM_MINUS:
		next = c == '0' ? NUM_ZERO : digit ? NUM_INT : -1;
		break;
	case NUM_ZERO:
	case NUM_INT:
	case NUM_FRAC:
		if (digit && k->sub != NUM_ZERO)
			next = k->sub;
		else if (c == '.' && k->sub != NUM_FRAC)
			next = NUM_DOT;
		else if (c == 'e' || c == 'E')
			next = NUM_E;
		else
			return 1;
		break;
	case NUM_DOT:
		next = digit ? NUM_FRAC : -1;
		break;
	case NUM_E:
		next = c == '+' || c == '-' ? NUM_ESIGN : digit ? NUM_EXP : -1;
		break;
	case NUM_ESIGN:
		next = digit ? NUM_EXP : -1;
		break;
	case NUM_EXP:
		if (!digit)
			return 1;
		next = NUM_EXP;
		break;
	}
	if (next < 0)
		return jk_fail(k, "invalid number");
	k->sub = next;
	return k->emit ? jk_put(k, (char)c) : 0;
}

static int
jk_is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One byte outside strings (and the slow bytes of strings). */
static int
jk_byte(struct jsonkeep *k, unsigned char c)
{
	switch (k->state) {
	case JK_STRING:
		return jk_string_byte(k, c, jk_str_out(k));
	case JK_NUMBER: {
		int r = jk_number_byte(k, c);
		if (r <= 0)
			return r;
		jk_value_done(k);
		return jk_byte(k, c);
	}
	case JK_LITERAL:
		if (c != (unsigned char)k->literal[k->literal_at])
			return jk_fail(k, "invalid literal");
		if (k->emit && jk_put(k, (char)c) < 0)
			return -1;
		if (k->literal[++k->literal_at] == '\0')
			jk_value_done(k);
		return 0;
	default:
		break;
	}
	if (jk_is_ws(c))
		return 0;
	switch (k->state) {
	case JK_VALUE:
		return jk_value_begin(k, c);
	case JK_ARR_FIRST:
		if (c == ']')
			return jk_close(k, (char)c);
		jk_element_next(k);
		return jk_value_begin(k, c);
	case JK_OBJ_FIRST:
		if (c == '}')
			return jk_close(k, (char)c);
		if (c != '"')
			return jk_fail(k, "expected a key or '}'");
		return jk_key_begin(k);
	case JK_KEY:
		if (c != '"')
			return jk_fail(k, "expected a key");
		return jk_key_begin(k);
	case JK_COLON:
		if (c != ':')
			return jk_fail(k, "expected ':' after the key");
		return jk_member(k);
	case JK_AFTER:
		if (c == ',') {
			if (k->stack[k->depth - 1].is_object)
				k->state = JK_KEY;
			else
				jk_element_next(k);
			return 0;
		}
		return jk_close(k, (char)c);
	case JK_END:
		return jk_fail(k, "text after the value");
	default:
		return jk_fail(k, "internal state");
	}
}

static int
jk_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

int
jsonkeep_feed(struct jsonkeep *k, const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;
	if (k->failed)
		return -1;
	while (p < end) {
		if (k->state == JK_STRING && k->sub == 0 && k->utf8_need == 0 && jk_plain(*p)) {
			/* the bulk of a payload: a run of plain characters */
			const unsigned char *q = p + 1;
			while (q < end && jk_plain(*q))
				q++;
			size_t n = (size_t)(q - p);
			if (jk_str_out(k) && jk_write(k, (const char *)p, n) < 0)
				return -1;
			if (k->capture) {
				jk_dec_flush_hi(k);
				jk_dec_bytes(k, (const char *)p, n);
			}
			k->offset += n;
			p = q;
			continue;
		}
		if (jk_byte(k, *p) < 0)
			return -1;
		k->offset++;
		p++;
	}
	return 0;
}

int
jsonkeep_finish(struct jsonkeep *k)
{
	if (k->failed)
		return -1;
	if (k->state == JK_NUMBER && k->depth == 0 &&
	    (k->sub == NUM_ZERO || k->sub == NUM_INT || k->sub == NUM_FRAC || k->sub == NUM_EXP))
		jk_value_done(k);
	if (!k->done)
		return jk_fail(k, "unexpected end of text");
	/* the output ends with a NUL, as buf_str promises */
	if (buf_reserve(&k->out, 0) < 0)
		return jk_fail(k, "out of memory");
	k->out.data[k->out.len] = '\0';
	return 0;
}

const char *
jsonkeep_output(const struct jsonkeep *k, size_t *len)
{
	*len = k->out.len;
	return buf_str(&k->out);
}

const char *
jsonkeep_error(const struct jsonkeep *k)
{
	return k->error;
}

/* ------------------------------------------------------------ reference */

static const struct jsonkeep_spec *
jk_dom_lookup(const struct jsonkeep_spec *spec, const char *key, size_t len)
{
	for (; spec && spec->key; spec++)
		if (strlen(spec->key) == len && memcmp(spec->key, key, len) == 0)
			return spec;
	return NULL;
}

static void
jk_dom_prune(struct json_writer *w, const struct json_value *v, const struct jsonkeep_spec *spec)
{
	if (!spec) {
		json_write_value(w, v);
		return;
	}
	switch (json_type(v)) {
	case JSON_OBJECT:
		json_write_object_begin(w);
		for (const struct json_value *m = json_first(v); m; m = json_next(m)) {
			size_t len;
			const char *key = json_key(m, &len);
			const struct jsonkeep_spec *e = jk_dom_lookup(spec, key, len);
			if (!e)
				continue;
			json_write_keyn(w, key, len);
			jk_dom_prune(w, m, e->sub);
		}
		json_write_object_end(w);
		break;
	case JSON_ARRAY:
		json_write_array_begin(w);
		for (const struct json_value *e = json_first(v); e; e = json_next(e))
			jk_dom_prune(w, e, spec);
		json_write_array_end(w);
		break;
	default:
		json_write_value(w, v);
	}
}

void
jsonkeep_prune_dom(struct json_writer *w, const struct json_value *v,
                   const struct jsonkeep_rule *rules)
{
	if (json_type(v) != JSON_OBJECT) {
		json_write_value(w, v);
		return;
	}
	const struct jsonkeep_spec *rule = NULL;
	int t_seen = 0;
	json_write_object_begin(w);
	for (const struct json_value *m = json_first(v); m; m = json_next(m)) {
		size_t len;
		const char *key = json_key(m, &len);
		if (rule) {
			const struct jsonkeep_spec *e = jk_dom_lookup(rule, key, len);
			if (!e)
				continue;
			json_write_keyn(w, key, len);
			jk_dom_prune(w, m, e->sub);
			continue;
		}
		json_write_keyn(w, key, len);
		json_write_value(w, m);
		if (!t_seen && len == 1 && key[0] == 't') {
			t_seen = 1;
			size_t tlen;
			const char *t = json_string(m, &tlen);
			for (const struct jsonkeep_rule *r = rules; t && r && r->t; r++)
				if (strlen(r->t) == tlen && memcmp(r->t, t, tlen) == 0) {
					rule = r->root;
					break;
				}
		}
	}
	json_write_object_end(w);
}
