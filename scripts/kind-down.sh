#!/usr/bin/env bash
# make kind-down: delete the kind cluster (the .kind folder keeps the CA,
# passwords and istioctl for the next kind-up). Nothing to do when it is gone.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v kind >/dev/null 2>&1 && kind get clusters 2>/dev/null | grep -qx docs-mesh; then
  kind delete cluster --name docs-mesh
  rm -f .kind/ports
else
  echo "kind-down: no docs-mesh cluster"
fi
