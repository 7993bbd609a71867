#!/usr/bin/env bash
# The kind cluster's secrets, made once and kept in the git-ignored .kind
# folder: a self-signed CA and the gateway's certificate for localhost
# (api-tls-cert in istio-system), PostgreSQL role passwords (postgres-roles),
# each API's database URL (database-urls), signing-api's and identity-api's
# key-encryption keys (signing-keys, identity-keys) and the OpenID client
# secret (oidc-client). Re-running changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

tls=.kind/tls
mkdir -p "$tls"
if [ ! -f "$tls/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=docs-mesh kind CA" -keyout "$tls/ca-key.pem" -out "$tls/ca.pem" 2>/dev/null
fi
if [ ! -f "$tls/tls.pem" ]; then
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$tls/tls-key.pem" -out "$tls/tls.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$tls/ext.cnf"
  openssl x509 -req -in "$tls/tls.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" -CAcreateserial \
    -days 365 -extfile "$tls/ext.cnf" -out "$tls/tls.pem" 2>/dev/null
fi
kubectl -n istio-system create secret tls api-tls-cert --cert="$tls/tls.pem" --key="$tls/tls-key.pem" \
  --dry-run=client -o yaml | kubectl apply -f -

passwords=.kind/postgres-passwords.env
if [ ! -f "$passwords" ]; then
  umask 077
  {
    echo "POSTGRES_PASSWORD=$(openssl rand -hex 24)"
    for role in BUCKET_API SIGNING_API VERIFICATION_API IDENTITY_API ADMIN_API; do
      echo "${role}_PASSWORD=$(openssl rand -hex 24)"
    done
  } > "$passwords"
fi
kubectl -n docs create secret generic postgres-roles --from-env-file="$passwords" \
  --dry-run=client -o yaml | kubectl apply -f -

# 32 random bytes, base64url: what the services' key settings expect.
random_key() {
  if [ ! -f "$1" ]; then
    (umask 077 && openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n' > "$1")
  fi
}
random_key .kind/key-encryption-key
kubectl -n docs create secret generic signing-keys --from-file=key-encryption-key=.kind/key-encryption-key \
  --dry-run=client -o yaml | kubectl apply -f -
random_key .kind/identity-encryption-key
kubectl -n docs create secret generic identity-keys --from-file=encryption-key=.kind/identity-encryption-key \
  --dry-run=client -o yaml | kubectl apply -f -
random_key .kind/oidc-client-secret
# Both sides of the OpenID client: identity-api (docs) and the provider (docs-oidc).
for namespace in docs docs-oidc; do
  kubectl -n "$namespace" create secret generic oidc-client --from-literal=client-id=docs-mesh \
    --from-file=client-secret=.kind/oidc-client-secret \
    --dry-run=client -o yaml | kubectl apply -f -
done

# shellcheck disable=SC1090
. "$passwords"
url() { echo "postgres://$1:$2@postgres.docs.svc.cluster.local:5432/docs"; }
kubectl -n docs create secret generic database-urls \
  --from-literal=bucket-api="$(url bucket_api "$BUCKET_API_PASSWORD")" \
  --from-literal=signing-api="$(url signing_api "$SIGNING_API_PASSWORD")" \
  --from-literal=verification-api="$(url verification_api "$VERIFICATION_API_PASSWORD")" \
  --from-literal=identity-api="$(url identity_api "$IDENTITY_API_PASSWORD")" \
  --from-literal=admin-api="$(url admin_api "$ADMIN_API_PASSWORD")" \
  --dry-run=client -o yaml | kubectl apply -f -
