#!/usr/bin/env bash
# make kind-up: the whole system on a local kind cluster with Istio, from
# scratch or on top of what is already there (every step is idempotent).
# Settings (environment): KIND_HTTPS_PORT (default 8443) and KIND_OIDC_PORT
# (default 9000) are the host ports of the gateway and of the local OpenID
# provider; ISTIO_VERSION and KIND_NODE_IMAGE override the pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned together: Istio 1.30 supports Kubernetes 1.32+ and is tested on 1.35
# (istio/istio 1.30.3: istioctl/pkg/install/k8sversion/version.go, prow/integ-suite-kind.sh);
# the node image is kind v0.31.0's own default (kind v0.31.0: pkg/apis/config/defaults/image.go).
ISTIO_VERSION="${ISTIO_VERSION:-1.30.3}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f}"
KIND_HTTPS_PORT="${KIND_HTTPS_PORT:-8443}"
KIND_OIDC_PORT="${KIND_OIDC_PORT:-9000}"
CLUSTER=docs-mesh
SERVICES=(bucket-api signing-api verification-api identity-api admin-api frontend)

fail() { echo "kind-up: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 is required: $2"; }
need docker "install Docker Engine or Docker Desktop, https://docs.docker.com/get-docker/"
need kind "install kind, https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "install kubectl, https://kubernetes.io/docs/tasks/tools/"
need curl "install curl"
need openssl "install openssl"
docker info >/dev/null 2>&1 || fail "the Docker engine is not running"

for setting in KIND_HTTPS_PORT KIND_OIDC_PORT; do
  port="${!setting}"
  if ! [[ "$port" =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then
    fail "$setting=$port is not a TCP port"
  fi
done
[ "$KIND_HTTPS_PORT" != "$KIND_OIDC_PORT" ] || fail "KIND_HTTPS_PORT and KIND_OIDC_PORT are both $KIND_HTTPS_PORT"

# Something already answers on 127.0.0.1:<port> (docker compose's Caddy on
# 8443, MinIO or php-fpm on 9000...): kind would fail half-way with Docker's
# "port is already allocated".
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The host ports are part of the cluster: a cluster made with other ports must be remade.
mkdir -p .kind
ports="KIND_HTTPS_PORT=$KIND_HTTPS_PORT KIND_OIDC_PORT=$KIND_OIDC_PORT"
create=
if kind get clusters | grep -qx "$CLUSTER"; then
  made_with="$(cat .kind/ports 2>/dev/null || echo "KIND_HTTPS_PORT=8443 KIND_OIDC_PORT=9000")"
  [ "$made_with" = "$ports" ] ||
    fail "the cluster $CLUSTER was made with $made_with, not $ports: run make kind-down first"
else
  create=yes
  for setting in KIND_HTTPS_PORT KIND_OIDC_PORT; do
    if port_taken "${!setting}"; then
      fail "port ${!setting} on 127.0.0.1 is already in use (docker compose up?); stop what uses it or choose another one, e.g. $setting=$((${!setting} + 10000)) make kind-up"
    fi
  done
fi

# istioctl, pinned, in the git-ignored .kind folder.
istioctl=".kind/istio-$ISTIO_VERSION/bin/istioctl"
if [ ! -x "$istioctl" ]; then
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=osx ;;
    *) fail "istioctl is downloaded for Linux and macOS only; put it at $istioctl" ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    arm64 | aarch64) arch=arm64 ;;
    *) fail "no istioctl build for $(uname -m)" ;;
  esac
  # Istio's release names, as its downloadIstio script builds them (istio/istio: release/downloadIstioCandidate.sh).
  platform="$os-$arch"
  [ "$platform" = osx-amd64 ] && platform=osx
  curl -fsSL -o ".kind/istio-$ISTIO_VERSION.tar.gz" \
    "https://github.com/istio/istio/releases/download/$ISTIO_VERSION/istio-$ISTIO_VERSION-$platform.tar.gz"
  tar -xzf ".kind/istio-$ISTIO_VERSION.tar.gz" -C .kind
  rm ".kind/istio-$ISTIO_VERSION.tar.gz"
fi

if [ "${create:-}" = yes ]; then
  sed -e "s/hostPort: 8443/hostPort: $KIND_HTTPS_PORT/" -e "s/hostPort: 9000/hostPort: $KIND_OIDC_PORT/" \
    k8s/kind/cluster.yaml > .kind/cluster.yaml
  kind create cluster --config .kind/cluster.yaml --image "$KIND_NODE_IMAGE"
  echo "$ports" > .kind/ports
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

# The default profile, sized for a 4-CPU/8 GiB Docker VM (docs/kind.md#machine).
"$istioctl" install -y -f k8s/kind/istio-operator.yaml

# Without attestations, so each image is one plain manifest that `kind load`
# can import whichever image store Docker uses (kind issue 3795, docs/kind.md).
for service in "${SERVICES[@]}" oidc-provider; do
  docker build --provenance=false --sbom=false --build-arg SERVICE="$service" -t "docs-mesh/$service:kind" .
  kind load docker-image --name "$CLUSTER" "docs-mesh/$service:kind"
done

kubectl apply -f k8s/base/namespace.yaml
kubectl create namespace docs-oidc --dry-run=client -o yaml | kubectl apply -f -
scripts/kind-secrets.sh

# The kind overlay with the chosen host ports: browsers and identity-api meet
# the gateway at https://localhost:$KIND_HTTPS_PORT and the provider at
# http://oidc.localhost:$KIND_OIDC_PORT (the provider's Service listens on that
# port too, so identity-api reaches the same issuer URL inside the cluster).
overlay=.kind/overlay
mkdir -p "$overlay"
cat > "$overlay/kustomization.yaml" <<EOF
# Made by scripts/kind-up.sh: k8s/overlays/kind with the host ports $ports.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../k8s/overlays/kind
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: identity-api, namespace: docs }
      spec:
        template:
          spec:
            containers:
              - name: identity-api
                env:
                  - { name: PUBLIC_URL, value: "https://localhost:$KIND_HTTPS_PORT" }
                  - { name: OIDC_ISSUER, value: "http://oidc.localhost:$KIND_OIDC_PORT" }
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: oidc-provider, namespace: docs-oidc }
      spec:
        template:
          spec:
            containers:
              - name: oidc-provider
                env:
                  - { name: OIDC_ISSUER, value: "http://oidc.localhost:$KIND_OIDC_PORT" }
                  - { name: OIDC_REDIRECT_URIS, value: "https://localhost:$KIND_HTTPS_PORT/auth/oidc/local/callback" }
  - target: { kind: Service, name: oidc-provider, namespace: docs-oidc }
    patch: |-
      - { op: replace, path: /spec/ports/0/port, value: $KIND_OIDC_PORT }
EOF
kubectl apply -k "$overlay"

kubectl -n docs rollout status statefulset/postgres --timeout=300s
for service in "${SERVICES[@]}"; do
  kubectl -n docs rollout status "deployment/$service" --timeout=300s
done
kubectl -n e2e-outside rollout status deployment/e2e-client --timeout=300s
kubectl -n docs-oidc rollout status deployment/oidc-provider --timeout=300s
kubectl -n istio-system rollout status deployment/istio-ingressgateway --timeout=300s

echo "ready: https://localhost:$KIND_HTTPS_PORT (trust .kind/tls/ca.pem); sign in as alice, bob or carol, password <name>-local-password"
