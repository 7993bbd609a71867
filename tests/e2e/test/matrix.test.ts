// The allowed/denied matrix (matrix.yaml), cell by cell, against the local
// mesh by default, a kind cluster with E2E_TARGET=kind, or a running docker
// compose stack with E2E_TARGET=compose.
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startComposeTarget } from '../src/compose-target.ts'
import { startKindTarget } from '../src/kind-target.ts'
import { startLocalTarget } from '../src/local-target.ts'
import { loadMatrix } from '../src/matrix.ts'
import type { Reached, Target } from '../src/target.ts'
import { countedByProxies, RequestTally } from '../src/telemetry-tally.ts'

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

/** The ingress gateway's workload, as Istio's metrics name it. */
const GATEWAY = 'istio-ingressgateway'
/** What the matrix sent, as each reporting proxy should count it (asserted at the end). */
const tally = new RequestTally()
/** Each refusal the matrix saw: whose access log must say so, and how. */
const refusals: Array<{ workload: string; line: string }> = []

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
  // What the proxies counted before the first cell (the apps' readiness checks at start-up).
  if (target.telemetry) tally.addCounts(countedByProxies((await target.telemetry()).samples))
})

/**
 * Calls a cell caused beyond its own (a readiness check calling its
 * dependencies' /health), from the decision log: counted at both proxies, 200
 * when allowed (the health answer), Envoy's 403 when denied.
 */
function tallySideCalls(reached: Reached[] | null, destination: string | undefined): void {
  for (const r of reached ?? []) {
    if (r.workload === destination || r.source === undefined) continue
    const code = r.decision === 'DENY' ? 403 : 200
    tally.add({ reporter: 'source', source: r.source, destination: r.workload, code, flags: '-' })
    tally.add({ reporter: 'destination', source: r.source, destination: r.workload, code, flags: '-' })
  }
}
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
      // `ingress` calls the destination's sidecar directly (no proxy of its own to report it),
      // and its dropped calls are answered by the client itself.
      const source = cell.from === 'ingress' ? GATEWAY : cell.from
      const request = `"${cell.method} ${cell.path} HTTP/1.1"`
      if (cell.expect === 'network') {
        if (cell.from !== 'ingress') {
          tally.add({ reporter: 'source', source, destination: cell.service, code: 503, flags: 'UF,URX' })
          // Envoy's flags and details for a connect timeout after every retry (router.cc onUpstreamReset).
          refusals.push({
            workload: cell.from,
            line: `${request} 503 UF,URX upstream_reset_before_response_started{connection_timeout} `,
          })
        }
      } else if (res.status !== undefined) {
        if (cell.from !== 'ingress')
          tally.add({ reporter: 'source', source, destination: cell.service, code: res.status, flags: '-' })
        tally.add({
          reporter: 'destination',
          source,
          destination: cell.service,
          code: res.status,
          flags: '-',
        })
        tallySideCalls(res.reached, cell.service)
        const denial = res.reached?.find((r) => r.workload === cell.service && r.rbacDetails)
        if (cell.expect === 'deny' && denial)
          refusals.push({ workload: cell.service, line: `${request} 403 - ${denial.rbacDetails} ` })
      }
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
      if (res.reached && res.status !== undefined) {
        const to = res.reached[0]?.workload
        // Not forwarded: the gateway's own answer, no route (NR) or its own RBAC.
        const flags = to === undefined && res.status === 404 ? 'NR' : '-'
        tally.add({
          reporter: 'source',
          source: GATEWAY,
          destination: to ?? 'unknown',
          code: res.status,
          flags,
        })
        if (to)
          tally.add({ reporter: 'destination', source: GATEWAY, destination: to, code: res.status, flags })
      }
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

// Istio's telemetry counts what the matrix sent (issue 14): every proxy's
// istio_requests_total, per reporter, edge, response code and flags, equals the
// matrix's own tally, and every refusal is in the access log of the proxy that
// refused (the destination's for RBAC, with the policy Envoy's RBAC filter names;
// the caller's for a network drop).
// kind and compose: read with Prometheus and kubectl/docker logs instead (docs/observability.md).
describe.skipIf(kind || compose)('what the proxies recorded', () => {
  it('counts exactly the requests the matrix sent, per edge and outcome', async () => {
    const telemetry = target.telemetry
    if (!telemetry) throw new Error('the local target reads the proxies’ telemetry')
    // A proxy records a request when its response closes, just after the client has it:
    // give the last ones a moment, then compare (the failure shows the difference).
    const expected = tally.toObject()
    await vi
      .waitFor(async () => expect(countedByProxies((await telemetry()).samples)).toEqual(expected), {
        timeout: 3_000,
      })
      .catch(() => {})
    expect(countedByProxies((await telemetry()).samples)).toEqual(expected)
  })

  it('logs every refusal where it happened, naming the policy as Envoy does', async () => {
    const telemetry = target.telemetry
    if (!telemetry) throw new Error('the local target reads the proxies’ access logs')
    // Each proxy process appends its lines to its file as its responses close.
    const missing = async () => {
      const { accessLogs } = await telemetry()
      return refusals.filter(({ workload, line }) => !accessLogs[workload]?.some((l) => l.includes(line)))
    }
    await vi.waitFor(async () => expect(await missing()).toEqual([]), { timeout: 3_000 }).catch(() => {})
    expect(await missing()).toEqual([])
    expect(refusals.length).toBeGreaterThan(0)
  })
})
