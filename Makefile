# The two commands of the README, and the cluster path.
# Each target first puts Node 24 and the pinned pnpm on PATH (scripts/env.sh).
SHELL := /bin/bash
ENV := source scripts/env.sh &&
# Prerequisites run in the order written: the Chromium check stops `make test` before anything else.
.NOTPARALLEL:

.PHONY: dev test install bench lint ensure-chromium

install:
	@$(ENV) pnpm install --frozen-lockfile --prefer-offline

dev: install
	@$(ENV) pnpm dev

test: ensure-chromium install
	@$(ENV) pnpm test

ensure-chromium:
	@scripts/ensure-chromium.sh

bench: install
	@$(ENV) pnpm bench

# The cluster path (needs Docker, kind and kubectl; see docs/kind.md).
# KIND_HTTPS_PORT and KIND_OIDC_PORT choose the host ports (8443 and 9000).
.PHONY: kind-up kind-down e2e-kind
KIND_HTTPS_PORT ?= 8443

kind-up:
	@scripts/kind-up.sh

kind-down:
	@scripts/kind-down.sh

e2e-kind: install
	@$(ENV) E2E_TARGET=kind E2E_CA_FILE=$(CURDIR)/.kind/tls/ca.pem E2E_GATEWAY_URL=https://localhost:$(KIND_HTTPS_PORT) E2E_GATEWAY_HOST=localhost pnpm --filter @docs-mesh/e2e test

# The matrix against a running `docker compose up` (docs/compose.md).
.PHONY: e2e-compose
e2e-compose: install
	@$(ENV) E2E_TARGET=compose E2E_GATEWAY_URL=https://localhost:8443 E2E_GATEWAY_HOST=localhost pnpm --filter @docs-mesh/e2e test
