/* x509 — the fields of a DER certificate that make it a trust anchor: the
 * subject name, the public key and the CA flag (RFC 5280 4.1).
 *
 * Why not BearSSL's br_x509_decoder: it runs in BearSSL's T0 interpreter,
 * about 27 us of CPU per certificate here, so the 144 roots of Debian's
 * bundle (TLS_CA_FILE) took some 4 ms at every start; this walk takes a
 * few microseconds each (bench_startup).
 *
 * It reads what br_x509_decoder reads, as it does: the subject name as its
 * whole DER element, an RSA key (modulus and exponent without leading
 * zeros; a negative one is refused) or an EC key on P-256, P-384 or P-521
 * (the point as it is), and the CA flag from basicConstraints (0 without
 * it). It does not look at the signature or the validity dates, which a
 * trust anchor's use does not need. Refused (-1): anything not DER as
 * described, versions above 3, other key types and curves; the caller may
 * then ask br_x509_decoder, which refuses such certificates too. */
#ifndef AGORA_X509_H
#define AGORA_X509_H

#include <stddef.h>

struct x509_anchor {
	const unsigned char *dn; /* pointers into the certificate */
	size_t dn_len;
	int key_type;               /* BR_KEYTYPE_RSA or BR_KEYTYPE_EC */
	const unsigned char *n, *e; /* RSA */
	size_t n_len, e_len;
	int curve; /* EC: BR_EC_secp256r1, BR_EC_secp384r1, BR_EC_secp521r1 */
	const unsigned char *q;
	size_t q_len;
	int is_ca;
};

/* 0 with *a filled, or -1. */
int x509_anchor_parse(const unsigned char *der, size_t len, struct x509_anchor *a);

#endif
