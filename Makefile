# The two commands of the README, and the cluster path.
# Each target first puts Node 24 and the pinned pnpm on PATH (scripts/env.sh).
SHELL := /bin/bash
ENV := source scripts/env.sh &&

.PHONY: dev test install bench lint

install:
	@$(ENV) pnpm install --frozen-lockfile --prefer-offline

dev: install
	@$(ENV) pnpm dev

test: install
	@$(ENV) pnpm test

bench: install
	@$(ENV) pnpm bench

# The cluster path (needs Docker, kind and kubectl; see docs/kind.md).
.PHONY: kind-up kind-down e2e-kind

kind-up:
	@scripts/kind-up.sh

kind-down:
	@scripts/kind-down.sh

e2e-kind: install
	@$(ENV) E2E_TARGET=kind E2E_CA_FILE=$(CURDIR)/.kind/tls/ca.pem E2E_GATEWAY_HOST=localhost pnpm --filter @docs-mesh/e2e test
