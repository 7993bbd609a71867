# syntax=docker/dockerfile:1
# One image per service, chosen by a build argument:
#   docker build --build-arg SERVICE=bucket-api -t docs-mesh/bucket-api:kind .
# SERVICE is a workspace package name without its scope: bucket-api,
# signing-api, verification-api, identity-api, admin-api, frontend, or
# oidc-provider (the local OpenID provider, for kind and docker compose).
# Multi-arch: nothing here is architecture-specific (docker buildx --platform).

ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm AS build
ARG SERVICE
# better-sqlite3 12 must be compiled against Node 24.18.1 headers: built
# against 24.19+ it aborts the process when a Statement is garbage collected
# (docs/architecture.md#runtime). node-gyp fetches these headers.
ENV npm_config_target=24.18.1
RUN npm install --global pnpm@10.34.8
WORKDIR /src
COPY . .
RUN pnpm install --frozen-lockfile
RUN pnpm --filter "@docs-mesh/${SERVICE}..." run build
# The service with its production dependencies only, workspace packages included.
RUN pnpm --filter "@docs-mesh/${SERVICE}" deploy --legacy --prod /out
RUN node -e "const p = require('/out/package.json'); const entry = p.scripts.start.replace(/^node /, ''); require('fs').writeFileSync('/out/entry.mjs', 'import \"./' + entry + '\"\n')"

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="docs-mesh ${SERVICE}"
WORKDIR /app
COPY --from=build --chown=10001:10001 /out /app
# A fixed non-root UID (the Deployments' runAsUser); nothing is written outside /tmp,
# so the root filesystem can be read-only.
USER 10001:10001
ENV HOST=0.0.0.0
CMD ["node", "--enable-source-maps", "entry.mjs"]
