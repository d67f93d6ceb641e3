/* fuzz_x509 — arbitrary bytes as a DER certificate in TLS_CA_FILE
 * (src/x509.c), with BearSSL's br_x509_decoder beside it.
 *
 * Besides memory errors (ASan), the fuzzer fails when x509_anchor_parse
 * accepts a certificate that br_x509_decoder also accepts but reads its
 * fields differently (subject name bytes, key type, RSA modulus and
 * exponent, EC curve and point, CA flag), or when a field it returns
 * points outside the input. (x509.c may accept more than BearSSL: it
 * does not read the signature or the dates, which an anchor does not
 * use; when it refuses, tls.c asks BearSSL.) */
#include <bearssl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_dn {
	unsigned char b[4096];
	size_t len;
	int over;
};

static void
fuzz_x509_dn(void *ctx, const void *bytes, size_t len)
{
	struct fuzz_dn *d = ctx;
	if (len > sizeof d->b - d->len) {
		d->over = 1;
		return;
	}
	memcpy(d->b + d->len, bytes, len);
	d->len += len;
}

static void
fuzz_x509_inside(const uint8_t *data, size_t size, const unsigned char *p, size_t len)
{
	if (len && (p < data || p > data + size || len > (size_t)(data + size - p)))
		abort();
}

static int
fuzz_x509_same(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x509_anchor a;
	if (x509_anchor_parse(data, size, &a) < 0)
		return 0;
	fuzz_x509_inside(data, size, a.dn, a.dn_len);
	if (a.key_type == BR_KEYTYPE_RSA) {
		fuzz_x509_inside(data, size, a.n, a.n_len);
		fuzz_x509_inside(data, size, a.e, a.e_len);
	} else if (a.key_type == BR_KEYTYPE_EC) {
		fuzz_x509_inside(data, size, a.q, a.q_len);
	} else {
		abort();
	}
	static struct fuzz_dn dn;
	static br_x509_decoder_context xc;
	memset(&dn, 0, sizeof dn);
	br_x509_decoder_init(&xc, fuzz_x509_dn, &dn);
	br_x509_decoder_push(&xc, data, size);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&xc);
	if (!pk || dn.over)
		return 0;
	int same = fuzz_x509_same(a.dn, a.dn_len, dn.b, dn.len) && a.key_type == pk->key_type &&
	           a.is_ca == br_x509_decoder_isCA(&xc);
	if (same && pk->key_type == BR_KEYTYPE_RSA)
		same = fuzz_x509_same(a.n, a.n_len, pk->key.rsa.n, pk->key.rsa.nlen) &&
		       fuzz_x509_same(a.e, a.e_len, pk->key.rsa.e, pk->key.rsa.elen);
	else if (same)
		same = a.curve == pk->key.ec.curve &&
		       fuzz_x509_same(a.q, a.q_len, pk->key.ec.q, pk->key.ec.qlen);
	if (!same)
		abort();
	return 0;
}
