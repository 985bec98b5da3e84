#!/usr/bin/env bash
# Certificates for the sidecar example's TLS and HTTP/3 listeners:
#   gen-certs.sh [DIR]     (default: docker/sidecar/certs, gitignored)
# writes DIR/ca.crt (a throw-away CA: give it to clients, e.g. curl --cacert)
# and DIR/sidecar.crt + DIR/sidecar.key (ECDSA P-256, PKCS#8) for the names
# localhost and sidecar.local and the address 127.0.0.1, valid 30 days.
# The sidecar runs as uid 10001 and must read the key: as root the key is
# chowned to 10001 (mode 0600); otherwise it is left world-readable (0644), good
# for this demo only. In production mount a secret owned by (or readable by
# group of) 10001 instead.
set -euo pipefail

dir=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/certs}
install -d -m 0755 "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=shardgate sidecar example CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout sidecar.key -out sidecar.csr 2>/dev/null
openssl x509 -req -in sidecar.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile <(printf 'subjectAltName = DNS:localhost, DNS:sidecar.local, IP:127.0.0.1\nextendedKeyUsage = serverAuth\n') \
    -out sidecar.crt 2>/dev/null
rm -f sidecar.csr ca.srl ca.key
chmod 0644 ca.crt sidecar.crt
if [[ $(id -u) == 0 ]]; then
    chown 10001:10001 sidecar.key
    chmod 0600 sidecar.key
else
    chmod 0644 sidecar.key
fi
echo "$dir: ca.crt sidecar.crt sidecar.key"
