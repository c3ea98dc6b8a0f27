#!/bin/sh
# gen-certs.sh DIR [SERVER_NAME] - makes a development PKI for mvmd in DIR:
#   ca.pem/ca.key            the CA that signs the server and client certs
#   server.pem/server.key    mvmd's certificate (SAN: localhost, 127.0.0.1, ::1, SERVER_NAME)
#   client.pem/client.key    an operator client certificate (CN=operator)
#   other-ca.pem, other-client.pem/key   a second CA and a client it signed,
#                            which mvmd must refuse (used by the tests)
# EC P-256 keys, 30-day validity. Existing files are overwritten.
set -eu
dir=${1:?usage: gen-certs.sh DIR [SERVER_NAME]}
name=${2:-localhost}
mkdir -p "$dir"
cd "$dir"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # ca NAME CN
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days 30 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem"
}

leaf() { # leaf NAME CN CA EXT
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
    printf '%s\n' "$4" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
        -days 30 -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

ca ca "mvm dev CA"
leaf server mvmd ca "subjectAltName=DNS:localhost,DNS:$name,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth"
leaf client operator ca "extendedKeyUsage=clientAuth"
ca other-ca "mvm other CA"
leaf other-client intruder other-ca "extendedKeyUsage=clientAuth"
rm -f ./*.srl
chmod 644 ./*.pem
