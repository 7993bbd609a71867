// The allowed/denied matrix (matrix.yaml), cell by cell, against the local
// mesh by default, a kind cluster with E2E_TARGET=kind, or a running docker
// compose stack with E2E_TARGET=compose.
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startComposeTarget } from '../src/compose-target.ts'
import { startKindTarget } from '../src/kind-target.ts'
import { startLocalTarget } from '../src/local-target.ts'
import { loadMatrix } from '../src/matrix.ts'
import type { Target } from '../src/target.ts'

const matrix = loadMatrix(fileURLToPath(new URL('../matrix.yaml', import.meta.url)))
const targetName = process.env.E2E_TARGET ?? 'local'
if (!['local', 'kind', 'compose'].includes(targetName))
  throw new Error(`E2E_TARGET=${targetName}: expected local, kind or compose`)
const kind = targetName === 'kind'
const compose = targetName === 'compose'
// Where the target is containers, a cell is a kubectl (or docker compose) exec
// plus a request that may wait out its timeout.
const CELL_TIMEOUT_MS = kind || compose ? 90_000 : 30_000
// What the caller's Envoy answers once its connect attempts to a dropped
// destination have timed out (Istio retries connect failures twice): Envoy's
// source/common/router/router.cc, Filter::onUpstreamReset.
const CONNECT_TIMEOUT_503 =
  'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection timeout'

let target: Target
beforeAll(async () => {
  target = kind
    ? await startKindTarget({
        gatewayUrl: process.env.E2E_GATEWAY_URL ?? 'https://localhost:8443',
        gatewayHost: process.env.E2E_GATEWAY_HOST ?? 'localhost',
        caFile:
          process.env.E2E_CA_FILE ?? fileURLToPath(new URL('../../../.kind/tls/ca.pem', import.meta.url)),
      })
    : compose
      ? await startComposeTarget({
          gatewayUrl: process.env.E2E_GATEWAY_URL ?? 'https://localhost:8443',
          gatewayHost: process.env.E2E_GATEWAY_HOST ?? 'localhost',
          caFile: process.env.E2E_CA_FILE,
        })
      : await startLocalTarget()
})
afterAll(async () => {
  await target?.close()
})

describe('service to service', () => {
  // The gateway's identity lives in the gateway's process on kind and in compose: it is exercised through its routes.
  it.each(matrix.mesh.filter((c) => !((kind || compose) && c.from === 'ingress')))(
    '$from → $service $method $path: $expect',
    async (cell) => {
      const res = await target.meshCall(cell.from, cell.service, cell.port, cell.method, cell.path)
      expect(res.exitCode).toBe(0)
      // A workload's call comes back through its own outbound sidecar, which writes
      // Envoy's default `envoy` over the destination's `istio-envoy`, and a dropped
      // connection is answered by that sidecar itself; `ingress` here speaks mTLS
      // straight to the destination (istio/istio pilot/pkg/networking/util/proxy_headers.go
      // GetProxyHeadersFromProxyConfig).
      expect(res.server).toBe(cell.from === 'ingress' ? 'istio-envoy' : 'envoy')
      if (cell.expect === 'network') {
        expect(res.status).toBe(503)
        expect(res.body).toBe(CONNECT_TIMEOUT_503)
        return
      }
      if (cell.expect === 'deny') {
        expect(res.status).toBe(403)
        expect(res.body).toBe('RBAC: access denied')
      } else {
        expect(res.body).not.toBe('RBAC: access denied')
        expect(res.status).toBeLessThan(500)
      }
      // Where the target can tell (locally), the destination's own sidecar decided
      // this request, exactly once: an app's own 403, or a request that never
      // reached the destination's proxy, cannot pass for the policy's answer.
      // (A readiness check may call further services; those are other workloads.)
      if (res.reached !== null)
        expect(
          res.reached.filter((r) => r.workload === cell.service).map((r) => `${r.workload} ${r.decision}`),
        ).toEqual([`${cell.service} ${cell.expect === 'deny' ? 'DENY' : 'ALLOW'}`])
    },
    CELL_TIMEOUT_MS,
  )
})

// Behind a network drop the policies still decide: the matrix's L7 answer for
// those cells, asked of the engine the local sidecars run (kind cannot tell).
describe.skipIf(kind)('behind the network, the policies', () => {
  it.each(matrix.mesh.filter((c) => c.expect === 'network'))(
    '$from → $service $method $path: $policy',
    (cell) => {
      expect(target.policyDecision?.(cell.from, cell.service, cell.port, cell.method, cell.path)).toBe(
        cell.policy,
      )
    },
  )
})

describe('refused before HTTP', () => {
  it.each(matrix.refused)(
    '$from → $service:$port: curl exit $exitCode',
    async (cell) => {
      const res = await target.refusedCall(cell.from, cell.service, cell.port)
      // Compose has no network layer in front of a container outside the mesh
      // (docs/compose.md): the sidecar's STRICT mTLS refuses instead, plaintext
      // closed (curl 56) and the foreign CA's handshake failed (curl 35).
      expect(res.exitCode).toBe(compose ? (cell.from === 'plaintext' ? 56 : 35) : cell.exitCode)
      expect(res.status).toBeUndefined()
    },
    CELL_TIMEOUT_MS,
  )
})

describe('through the ingress gateway', () => {
  it.each(matrix.gateway)(
    '$method $path (host $host) → $to',
    async (cell) => {
      const res = await target.gatewayCall(cell.method, cell.path, cell.host)
      expect(res.exitCode).toBe(0)
      if (cell.status !== undefined) expect(res.status).toBe(cell.status)
      // A 403 here is the policy's, never an app's own refusal (ERR_CALLER_FORBIDDEN).
      if (cell.status === 403) expect(res.body).toBe('RBAC: access denied')
      if (cell.empty) expect(res.body).toBe('')
      // What kind can check too: a bypass attempt gets the app's page, never data.
      if (cell.page) expect(res.body?.startsWith('<!doctype html>')).toBe(true)
      if (res.reached === null) return // kind cannot tell which sidecar answered
      if (cell.to === undefined) {
        expect(res.reached).toEqual([])
        return
      }
      expect(res.reached.map((r) => `${r.workload} ${r.decision}`)).toEqual([
        `${cell.to} ${cell.status === 403 ? 'DENY' : 'ALLOW'}`,
      ])
      if (cell.app_path) expect(res.reached[0]?.path).toBe(cell.app_path)
      // Whatever the spelling, no API's /internal route is reached from outside.
      for (const r of res.reached)
        if (r.workload !== 'frontend') expect(r.path.startsWith('/internal')).toBe(false)
    },
    CELL_TIMEOUT_MS,
  )
})
