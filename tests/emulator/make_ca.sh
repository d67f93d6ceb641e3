#!/bin/sh
# make_ca.sh DIR — a throw-away test CA and a server certificate it signs,
# for the Discord emulator on loopback. Generated at test time with the
# openssl CLI, never checked in.
#
#   DIR/ca.pem      the CA certificate: what the client under test trusts
#   DIR/ca.key      the CA key (kept only so a test can sign more)
#   DIR/server.pem  the emulator's certificate, SAN IP 127.0.0.1 and ::1, and
#                   DNS localhost and 127.0.0.1: BearSSL's X.509 engine matches
#                   the server name against dNSName entries only
#                   (x509_minimal.t0, process-SAN), so the address is there
#                   as a dNSName too
#   DIR/server.key  its key
#
# KEY_TYPE=ec (default, P-256: fast to generate) or KEY_TYPE=rsa (2048).
set -eu
dir=${1:?usage: make_ca.sh DIR}
mkdir -p "$dir"
cd "$dir"
case "${KEY_TYPE:-ec}" in
ec) newkey="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1" ;;
rsa) newkey="-newkey rsa:2048" ;;
*) echo "make_ca.sh: KEY_TYPE must be ec or rsa" >&2; exit 2 ;;
esac

cat >ca.cnf <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Agora Test CA
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost, DNS:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

# shellcheck disable=SC2086
openssl req -x509 -nodes $newkey -keyout ca.key -out ca.pem -days 2 \
	-config ca.cnf -extensions ca_ext 2>/dev/null
# shellcheck disable=SC2086
openssl req -new -nodes $newkey -keyout server.key -out server.csr \
	-subj "/CN=127.0.0.1" 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-out server.pem -days 2 -extfile ca.cnf -extensions server_ext 2>/dev/null
rm -f server.csr ca.srl
chmod 600 ca.key server.key
