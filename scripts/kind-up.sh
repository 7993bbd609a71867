#!/usr/bin/env bash
# make kind-up: the whole system on a local kind cluster with Istio, from
# scratch or on top of what is already there (every step is idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

ISTIO_VERSION="${ISTIO_VERSION:-1.28.1}"
CLUSTER=docs-mesh
SERVICES=(bucket-api signing-api verification-api identity-api admin-api frontend)

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "kind-up: $1 is required: $2" >&2; exit 1; }
}
need docker "install Docker Engine or Docker Desktop, https://docs.docker.com/get-docker/"
need kind "install kind, https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "install kubectl, https://kubernetes.io/docs/tasks/tools/"
need curl "install curl"
need openssl "install openssl"
docker info >/dev/null 2>&1 || { echo "kind-up: the Docker engine is not running" >&2; exit 1; }

# Istio, pinned, in the git-ignored .kind folder.
istioctl=".kind/istio-$ISTIO_VERSION/bin/istioctl"
if [ ! -x "$istioctl" ]; then
  mkdir -p .kind
  (cd .kind && curl -sL https://istio.io/downloadIstio | ISTIO_VERSION="$ISTIO_VERSION" sh -)
fi

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --config k8s/kind/cluster.yaml
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

"$istioctl" install -y -f k8s/kind/istio-operator.yaml

for service in "${SERVICES[@]}" oidc-provider; do
  docker build --build-arg SERVICE="$service" -t "docs-mesh/$service:kind" .
  kind load docker-image --name "$CLUSTER" "docs-mesh/$service:kind"
done

kubectl apply -f k8s/base/namespace.yaml
kubectl create namespace docs-oidc --dry-run=client -o yaml | kubectl apply -f -
scripts/kind-secrets.sh
kubectl apply -k k8s/overlays/kind

kubectl -n docs rollout status statefulset/postgres --timeout=300s
for service in "${SERVICES[@]}"; do
  kubectl -n docs rollout status "deployment/$service" --timeout=300s
done
kubectl -n e2e-outside rollout status deployment/e2e-client --timeout=300s
kubectl -n docs-oidc rollout status deployment/oidc-provider --timeout=300s
kubectl -n istio-system rollout status deployment/istio-ingressgateway --timeout=300s

echo "ready: https://localhost:8443 (trust .kind/tls/ca.pem); sign in as alice, bob or carol, password <name>-local-password"
