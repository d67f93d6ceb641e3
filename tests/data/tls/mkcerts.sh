#!/bin/sh
# mkcerts.sh DIR — the certificates test_tls.c runs openssl s_server with,
# made fresh at test time (nothing expires in the tree):
#   ca.crt          the test CA (the client's trust bundle)
#   good.crt        localhost, signed by ca, valid for 30 days
#   expired.crt     localhost, signed by ca, notAfter a day ago (-days -1)
#   wrongname.crt   wrong.example only, signed by ca
#   untrusted.crt   localhost, signed by other-ca (unknown to the client)
#   server.key      the key of every server certificate (EC P-256)
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
[ -f done ] && exit 0
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
key other-ca.key
key server.key
openssl req -x509 -new -key ca.key -subj "/CN=Agora Test CA" -days 30 -out ca.crt
openssl req -x509 -new -key other-ca.key -subj "/CN=Other Test CA" -days 30 -out other-ca.crt
openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
# sign CSR CA-NAME OUT DAYS SAN
sign() {
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$5" >"$3.ext"
	openssl x509 -req -in server.csr -CA "$1.crt" -CAkey "$1.key" -set_serial "$2" \
		-days "$4" -extfile "$3.ext" -out "$3" 2>/dev/null
}
sign ca 1 good.crt 30 DNS:localhost
sign ca 2 expired.crt -1 DNS:localhost
sign ca 3 wrongname.crt 30 DNS:wrong.example
sign other-ca 4 untrusted.crt 30 DNS:localhost
touch done
