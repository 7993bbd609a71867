// The matrix against a running docker compose stack (`docker compose up`,
// docs/compose.md): the local mesh as containers, each app's sidecar in the
// app's network namespace. A workload's call is Node run by `docker compose
// exec` in that workload's app container, sent to its sidecar's outbound port
// as the app's own HTTP_PROXY client sends it; plaintext and foreign-CA calls
// come from a container outside the mesh (the local OpenID provider's, as
// kind uses a pod outside the mesh); gateway calls go to the one published
// port, trusting the mesh's root certificate. Every request has a timeout
// (E2E_REQUEST_TIMEOUT_MS, 20 s by default; curl's exit code 28 when it ran out).
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { buildMeshModel, CertificateAuthority, evaluate, loadManifests } from '@docs-mesh/mesh'
import type { Outcome, Target } from './target.ts'

const run = promisify(execFile)

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const REQUEST_TIMEOUT_MS = Number(process.env.E2E_REQUEST_TIMEOUT_MS ?? 20_000)
/** docker-compose.yml's names (test/compose-target.test.ts checks them against it). */
export const COMPOSE_NAMES = {
  /** Every app's HTTP_PROXY: its sidecar's outbound port, in the app's network namespace. */
  outboundProxy: 'http://127.0.0.1:15001',
  controlPlane: 'control-plane',
  /** The control plane's --mesh-dir, then ca/root.pem. */
  rootCert: '/var/lib/mesh/ca/root.pem',
  /** A container on the same network with no sidecar. */
  outside: 'oidc-provider',
} as const
const OUTBOUND_PROXY = COMPOSE_NAMES.outboundProxy
const CONTROL_PLANE = COMPOSE_NAMES.controlPlane
const ROOT_CERT = COMPOSE_NAMES.rootCert
const OUTSIDE_CONTAINER = COMPOSE_NAMES.outside

// Runs in a container: one request, one JSON line out, errors mapped to curl's
// codes. With a proxy, an absolute-form request to it, as undici's
// EnvHttpProxyAgent sends an http:// request through HTTP_PROXY.
const FETCH_SCRIPT = `
const [method, url, timeoutMs, proxy, cert, key] = process.argv.slice(1)
const code = (e) => { const c = String(e?.code ?? ''); const m = String(e?.message ?? '');
  if (c === 'ETIMEDOUT') return 28
  if (c === 'ECONNREFUSED') return 7; if (/SSL|TLS|CERT|EPROTO|alert/i.test(c + ' ' + m)) return 35; return 56 }
const u = new URL(url)
const p = proxy ? new URL(proxy) : null
const options = p
  ? { host: p.hostname, port: p.port, path: url, method, headers: { host: u.host } }
  : { host: u.hostname, port: u.port, path: u.pathname + u.search, method, ...(cert ? { cert, key, rejectUnauthorized: false } : {}) }
const req = require(u.protocol === 'https:' && !p ? 'node:https' : 'node:http').request(options, (res) => {
  let body = ''; res.setEncoding('utf8'); res.on('data', (c) => body += c)
  res.on('end', () => console.log(JSON.stringify({ exitCode: 0, status: res.statusCode, body, server: res.headers.server })))
})
req.setTimeout(Number(timeoutMs), () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
req.on('error', (e) => console.log(JSON.stringify({ exitCode: code(e) }))); req.end()`

export interface ComposeTargetOptions {
  /** The compose file the stack runs from (docker compose -f). */
  composeFile?: string
  gatewayUrl: string
  gatewayHost: string
  /** The mesh's root certificate; read from the control plane's container when not given. */
  caFile?: string
  /** The compose command, e.g. `docker compose` or `podman compose`. */
  compose?: string[]
}

export async function startComposeTarget(options: ComposeTargetOptions): Promise<Target> {
  const [command = 'docker', ...base] = options.compose ?? ['docker', 'compose']
  const composeArgs = [...base, '-f', options.composeFile ?? `${ROOT}docker-compose.yml`]
  const compose = async (args: string[], timeoutMs: number) =>
    (await run(command, [...composeArgs, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }))
      .stdout

  // `exec -T`: no TTY, so the JSON line comes back as written.
  const execNode = async (container: string, args: string[]): Promise<Outcome> => {
    const stdout = await compose(
      [
        'exec',
        '-T',
        container,
        'node',
        '-e',
        FETCH_SCRIPT,
        args[0] as string,
        args[1] as string,
        String(REQUEST_TIMEOUT_MS),
        ...args.slice(2),
      ],
      // docker compose exec's own start-up on top of the request's timeout.
      REQUEST_TIMEOUT_MS + 30_000,
    )
    return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Outcome
  }

  const ca = options.caFile
    ? readFileSync(options.caFile, 'utf8')
    : await compose(['exec', '-T', CONTROL_PLANE, 'cat', ROOT_CERT], 30_000)
  if (!ca.includes('-----BEGIN CERTIFICATE-----'))
    throw new Error(`no root certificate from ${CONTROL_PLANE}`)
  const foreign = await (await CertificateAuthority.create('foreign root')).issueSvid(
    'spiffe://cluster.local/ns/docs/sa/bucket-sa',
    3600_000,
  )
  // The manifests the control plane runs (docker-compose.yml mounts k8s/overlays/local).
  const model = buildMeshModel(loadManifests(`${ROOT}k8s/overlays/local`))
  const meshUrl = (service: string, port: number, path: string) =>
    `http://${service}.docs.svc.cluster.local:${port}${path}`

  return {
    async meshCall(from, service, port, method, path) {
      if (from === 'ingress')
        throw new Error(
          'compose: the gateway identity is exercised through its routes (its key never leaves it)',
        )
      // Which sidecar decided is in each proxy's own log, not read here.
      const result = await execNode(from, [method, meshUrl(service, port, path), OUTBOUND_PROXY])
      return { ...result, reached: null }
    },
    refusedCall(from, service, port) {
      // The app's compose service name reaches its network namespace, where its sidecar listens on the Service port.
      const url = `http://${service}:${port}/health`
      if (from === 'plaintext') return execNode(OUTSIDE_CONTAINER, ['GET', url, ''])
      return execNode(OUTSIDE_CONTAINER, [
        'GET',
        url.replace('http:', 'https:'),
        '',
        foreign.certPem,
        foreign.keyPem,
      ])
    },
    gatewayCall(method, path, host) {
      const url = new URL(options.gatewayUrl)
      return new Promise((resolve) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            method,
            path,
            ca,
            servername: options.gatewayHost,
            headers: { host: host ?? options.gatewayHost, accept: 'text/html' },
          },
          (res) => {
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (c: string) => {
              body += c
            })
            res.on('end', () =>
              resolve({
                exitCode: 0,
                status: res.statusCode,
                body,
                server: String(res.headers.server ?? ''),
                reached: null,
              }),
            )
          },
        )
        req.setTimeout(REQUEST_TIMEOUT_MS, () =>
          req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
        )
        req.on('error', (e: NodeJS.ErrnoException) =>
          resolve({ exitCode: e.code === 'ETIMEDOUT' ? 28 : 56, reached: null }),
        )
        req.end()
      })
    },
    policyDecision(from, service, port, method, path) {
      const workload = model.workloads.find((w) => w.name === service)
      const caller = model.workloads.find((w) => w.name === from)
      if (!workload) throw new Error(`no workload ${service}`)
      const decision = evaluate(model.policies, {
        namespace: workload.namespace,
        labels: workload.labels,
        principal:
          from === 'ingress'
            ? `${model.trustDomain}/ns/istio-system/sa/istio-ingressgateway-service-account`
            : (caller?.principal ?? null),
        sourceIp: '127.0.0.1',
        method,
        path,
        port,
        host: `${service}.docs.svc.cluster.local:${port}`,
        headers: {},
      })
      return decision.decision === 'ALLOW' ? 'allow' : 'deny'
    },
    async close() {},
  }
}
