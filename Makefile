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
