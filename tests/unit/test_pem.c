/* test_pem — src/pem.c, Agora's PEM reader for TLS_CA_FILE: the objects it
 * reads are BearSSL's br_pem_decoder's, label for label and byte for
 * byte, on Debian's CA bundle and on files with CRLF lines (where only
 * the label differs: BearSSL keeps the dashes), no final newline, blanks
 * in the body, text and other objects around; and the
 * malformed files are refused with the documented reasons. */
#include <bearssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pem.h"
#include "test.h"

#define PEM_TEST_MAX 256

struct pem_test_objects {
	size_t count;
	char label[PEM_TEST_MAX][130];
	struct buf data[PEM_TEST_MAX];
	int error;
};

static void
pem_test_free(struct pem_test_objects *o)
{
	for (size_t i = 0; i < PEM_TEST_MAX; i++)
		buf_free(&o->data[i]);
}

static void
pem_test_append(void *ctx, const void *bytes, size_t len)
{
	struct buf *b = ctx;
	buf_append(b, bytes, len);
}

/* BearSSL's reading, the reference; the file's end ends a last line */
static void
pem_test_bearssl(const char *text, size_t len, struct pem_test_objects *o)
{
	memset(o, 0, sizeof *o);
	for (size_t i = 0; i < PEM_TEST_MAX; i++)
		buf_init(&o->data[i], 1 << 20);
	br_pem_decoder_context pc;
	br_pem_decoder_init(&pc);
	for (int pass = 0; pass < 2 && !o->error; pass++) {
		const char *p = pass ? "\n" : text;
		size_t n = pass ? 1 : len, off = 0;
		while (off < n) {
			off += br_pem_decoder_push(&pc, p + off, n - off);
			switch (br_pem_decoder_event(&pc)) {
			case BR_PEM_BEGIN_OBJ:
				if (o->count < PEM_TEST_MAX) {
					snprintf(o->label[o->count], sizeof o->label[0], "%s",
					         br_pem_decoder_name(&pc));
					br_pem_decoder_setdest(&pc, pem_test_append,
					                       &o->data[o->count]);
				}
				break;
			case BR_PEM_END_OBJ:
				o->count++;
				break;
			case BR_PEM_ERROR:
				o->error = 1;
				return;
			default:
				break;
			}
		}
	}
}

/* pem.c's reading; 0, or -1 with *why */
static int
pem_test_ours(const char *text, size_t len, struct pem_test_objects *o, const char **why)
{
	memset(o, 0, sizeof *o);
	for (size_t i = 0; i < PEM_TEST_MAX; i++)
		buf_init(&o->data[i], 1 << 20);
	size_t pos = 0;
	const char *label;
	size_t label_len;
	int rc;
	while (o->count < PEM_TEST_MAX &&
	       (rc = pem_next(text, len, &pos, &label, &label_len, &o->data[o->count], why)) != 0) {
		if (rc < 0)
			return -1;
		snprintf(o->label[o->count], sizeof o->label[0], "%.*s", (int)label_len, label);
		o->count++;
	}
	return 0;
}

/* crlf: the BEGIN lines end in CR LF, where BearSSL takes the label to
 * be "CERTIFICATE-----" (so its reading found no certificate in such a
 * file); ours reads "CERTIFICATE" and the same bytes */
static void
pem_test_same(const char *what, const char *text, size_t len, int crlf)
{
	struct pem_test_objects a, b;
	const char *why = NULL;
	pem_test_bearssl(text, len, &a);
	CHECK(!a.error);
	if (!CHECK_INT(pem_test_ours(text, len, &b, &why), 0))
		printf("    %s: %s\n", what, why);
	if (CHECK_INT(b.count, a.count))
		for (size_t i = 0; i < a.count; i++) {
			if (crlf) {
				CHECK_STR(a.label[i], "CERTIFICATE-----");
				CHECK_STR(b.label[i], "CERTIFICATE");
			} else if (!CHECK_STR(b.label[i], a.label[i])) {
				printf("    %s: label\n", what);
			}
			if (!CHECK(b.data[i].len == a.data[i].len &&
			           (a.data[i].len == 0 ||
			            memcmp(b.data[i].data, a.data[i].data, a.data[i].len) == 0)))
				printf("    %s: object %zu differs\n", what, i);
		}
	pem_test_free(&a);
	pem_test_free(&b);
}

TEST(pem_reads_what_bearssl_reads)
{
	size_t len = 0;
	char *bundle = test_read_file("/etc/ssl/certs/ca-certificates.crt", &len);
	CHECK(bundle != NULL);
	if (bundle) {
		struct pem_test_objects o;
		const char *why;
		CHECK_INT(pem_test_ours(bundle, len, &o, &why), 0);
		CHECK(o.count > 100); /* Debian ships well over a hundred roots */
		pem_test_free(&o);
		pem_test_same("CA bundle", bundle, len, 0);
	}
	free(bundle);
	static const char *const cases[] = {
	        "-----BEGIN CERTIFICATE-----\nTWFu\n-----END CERTIFICATE-----\n",
	        "-----BEGIN CERTIFICATE-----\r\nTWFu\r\nTWE=\r\n-----END CERTIFICATE-----\r\n",
	        "-----BEGIN CERTIFICATE-----\nTWFuTQ==\n-----END CERTIFICATE-----",
	        "text before\n-----BEGIN PRIVATE KEY-----\nTQ==\n-----END PRIVATE KEY-----\n"
	        "between\n-----BEGIN X509 CERTIFICATE-----\n T W\tF u \n-----END X509 "
	        "CERTIFICATE-----\nafter\n",
	        "-----BEGIN A-----\n-----END A-----\n",
	        "no objects at all\n",
	        "",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char what[32];
		snprintf(what, sizeof what, "case %zu", i);
		pem_test_same(what, cases[i], strlen(cases[i]), i == 1);
	}
}

TEST(pem_refuses_malformed_objects)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
	        {"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
	         "invalid base64"},
	        {"-----BEGIN CERTIFICATE-----\nTWFuT\n-----END CERTIFICATE-----\n",
	         "invalid base64"},
	        {"-----BEGIN CERTIFICATE-----\nTQ==TQ==\n-----END CERTIFICATE-----\n",
	         "invalid base64"},
	        {"-----BEGIN CERTIFICATE-----\nTWFu===\n-----END CERTIFICATE-----\n",
	         "invalid base64"},
	        {"-----BEGIN CERTIFICATE-----\nTWFu\n", "no END line"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct pem_test_objects o;
		const char *why = NULL;
		CHECK_INT(pem_test_ours(bad[i].text, strlen(bad[i].text), &o, &why), -1);
		CHECK_STR(why ? why : "", bad[i].why);
		pem_test_free(&o);
	}
	/* a short read: der's bound is the caller's */
	struct buf small;
	buf_init(&small, 2);
	size_t pos = 0;
	const char *label, *why = NULL;
	size_t label_len;
	const char *text = "-----BEGIN C-----\nTWFu\n-----END C-----\n";
	CHECK_INT(pem_next(text, strlen(text), &pos, &label, &label_len, &small, &why), -1);
	CHECK_STR(why ? why : "", "out of memory");
	buf_free(&small);
}
