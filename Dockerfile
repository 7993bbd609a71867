# syntax=docker/dockerfile:1
# One image per service, chosen by a build argument:
#   docker build --provenance=false --sbom=false --build-arg SERVICE=bucket-api -t docs-mesh/bucket-api:kind .
# SERVICE is a workspace package name without its scope: bucket-api,
# signing-api, verification-api, identity-api, admin-api, frontend,
# oidc-provider (the local OpenID provider, for kind and docker compose), or
# mesh (the local mesh's CLI, compiled: docker compose runs its control
# plane, sidecars and gateway from it, e.g.
#   docker run docs-mesh/mesh:compose sidecar --workload bucket-api ...).
# Multi-arch: nothing here is architecture-specific (docker buildx --platform).
#
# Everything that does not depend on SERVICE comes first (toolchain, the
# dependency store, the workspace build), so the seven images share those
# layers and only the last two steps differ: BuildKit caches a step by its
# inputs, and a build argument in scope is one of them.
#
# NODE_VERSION is a tag the official image publishes (nodejs/docker-node has
# 24/bookworm and 24/bookworm-slim at 24.19.0); PNPM_VERSION must equal
# package.json's packageManager (k8s/test/images.test.ts checks both).

ARG NODE_VERSION=24.19.0

FROM node:${NODE_VERSION}-bookworm AS toolchain
ARG PNPM_VERSION=10.34.8
# better-sqlite3 12 must be compiled against Node 24.18.1 headers: built
# against 24.19+ it aborts the process when a Statement is garbage collected
# (docs/architecture.md#runtime). node-gyp fetches these headers.
ENV npm_config_target=24.18.1
RUN npm install --global pnpm@${PNPM_VERSION}
WORKDIR /src

# Packages into pnpm's store from the lockfile alone: cached until it changes.
FROM toolchain AS store
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch

# The whole workspace, installed offline from the store and built once for all images.
FROM store AS build
COPY . .
RUN pnpm install --offline --frozen-lockfile
RUN pnpm --filter "@docs-mesh/bucket-api..." --filter "@docs-mesh/signing-api..." \
      --filter "@docs-mesh/verification-api..." --filter "@docs-mesh/identity-api..." \
      --filter "@docs-mesh/admin-api..." --filter "@docs-mesh/frontend..." \
      --filter "@docs-mesh/oidc-provider..." --filter "@docs-mesh/mesh..." run build

# From here on the image is one service's: its production dependencies only,
# workspace packages included.
FROM build AS deploy
ARG SERVICE
RUN pnpm --filter "@docs-mesh/${SERVICE}" deploy --legacy --prod /out && \
    node -e "const p = require('/out/package.json'); const entry = p.scripts.start.replace(/^node /, ''); require('fs').writeFileSync('/out/entry.mjs', 'import \"./' + entry + '\"\n')"

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
WORKDIR /app
ARG SERVICE
# The mesh's control plane keeps its CA and workload tokens in a named volume
# mounted here. Docker fills a new named volume from the image's folder, owner
# included, so the folder must exist and be the non-root user's.
RUN if [ "$SERVICE" = mesh ]; then install -d -o 10001 -g 10001 -m 0700 /var/lib/mesh; fi
# A fixed non-root UID (the Deployments' runAsUser); nothing is written outside /tmp
# and mounted volumes, so the root filesystem can be read-only.
USER 10001:10001
ENV HOST=0.0.0.0
# An entrypoint, so arguments given to the container are the program's: the
# apps take none, the mesh image takes its CLI command (docker run ... sidecar
# --workload X, or compose's `command:`).
ENTRYPOINT ["node", "--enable-source-maps", "entry.mjs"]
COPY --from=deploy --chown=10001:10001 /out /app
LABEL org.opencontainers.image.title="docs-mesh ${SERVICE}"
