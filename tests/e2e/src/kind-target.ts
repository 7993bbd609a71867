// The matrix against a kind cluster running Istio (`make kind-up`): a
// workload's call is Node's fetch run by `kubectl exec` in that workload's app
// container (Istio's sidecar captures it), plaintext and foreign-CA calls come
// from a pod outside the mesh (namespace e2e-outside), and gateway calls go to
// the gateway through kind's port mapping. Every request has a timeout: a
// call the NetworkPolicies drop never gets an answer from the network itself
// (the caller's sidecar answers 503 after its connect attempts time out:
// meshConfig.connectTimeout in k8s/kind/istio-operator.yaml, three attempts;
// a client without a sidecar just waits), so each request gives up after
// E2E_REQUEST_TIMEOUT_MS (20 s by default) with curl's exit code 28.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { promisify } from 'node:util'
import { CertificateAuthority } from '@docs-mesh/mesh'
import type { Outcome, Target } from './target.ts'

const run = promisify(execFile)

const REQUEST_TIMEOUT_MS = Number(process.env.E2E_REQUEST_TIMEOUT_MS ?? 20_000)

// Runs in the pod: one request, one JSON line out, errors mapped to curl's codes
// (28 when it timed out).
const FETCH_SCRIPT = `
const [method, url, timeoutMs, cert, key] = process.argv.slice(1)
const code = (e) => { const c = String(e?.cause?.code ?? e?.code ?? ''); const m = String(e?.cause?.message ?? e?.message ?? '');
  if (c === 'ETIMEDOUT' || e?.name === 'TimeoutError') return 28
  if (c === 'ECONNREFUSED') return 7; if (/SSL|TLS|CERT|EPROTO|alert/i.test(c + ' ' + m)) return 35; return 56 }
if (cert) {
  const u = new URL(url)
  const req = require('node:https').request({ host: u.hostname, port: u.port, path: u.pathname, method, cert, key, rejectUnauthorized: false }, (res) => {
    let body = ''; res.on('data', (c) => body += c); res.on('end', () => console.log(JSON.stringify({ exitCode: 0, status: res.statusCode, body, server: res.headers.server })))
  })
  req.setTimeout(Number(timeoutMs), () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
  req.on('error', (e) => console.log(JSON.stringify({ exitCode: code(e) }))); req.end()
} else {
  fetch(url, { method, signal: AbortSignal.timeout(Number(timeoutMs)) })
    .then(async (r) => console.log(JSON.stringify({ exitCode: 0, status: r.status, body: await r.text(), server: r.headers.get('server') })))
    .catch((e) => console.log(JSON.stringify({ exitCode: code(e) })))
}`

async function execNode(
  namespace: string,
  target: string,
  container: string | null,
  args: string[],
): Promise<Outcome> {
  const kubectl = [
    'exec',
    '-n',
    namespace,
    target,
    ...(container ? ['-c', container] : []),
    '--',
    'node',
    '-e',
    FETCH_SCRIPT,
    args[0] as string,
    args[1] as string,
    String(REQUEST_TIMEOUT_MS),
    ...args.slice(2),
  ]
  // kubectl exec's own start-up on top of the request's timeout.
  const { stdout } = await run('kubectl', kubectl, { timeout: REQUEST_TIMEOUT_MS + 30_000 })
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Outcome
}

export async function startKindTarget(options: {
  gatewayUrl: string
  gatewayHost: string
  caFile: string
}): Promise<Target> {
  const ca = readFileSync(options.caFile, 'utf8')
  const foreign = await (await CertificateAuthority.create('foreign root')).issueSvid(
    'spiffe://cluster.local/ns/docs/sa/bucket-sa',
    3600_000,
  )
  const meshUrl = (service: string, port: number, path: string) =>
    `http://${service}.docs.svc.cluster.local:${port}${path}`

  return {
    async meshCall(from, service, port, method, path) {
      if (from === 'ingress')
        throw new Error('kind: the gateway identity is exercised through its routes, not by exec')
      // Istio's sidecars log their decisions only at debug level: kind cannot tell which one decided.
      const result = await execNode('docs', `deploy/${from}`, from, [method, meshUrl(service, port, path)])
      return { ...result, reached: null }
    },
    refusedCall(from, service, port) {
      const url = meshUrl(service, port, '/health')
      if (from === 'plaintext') return execNode('e2e-outside', 'deploy/e2e-client', null, ['GET', url])
      return execNode('e2e-outside', 'deploy/e2e-client', null, [
        'GET',
        url.replace('http:', 'https:'),
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
            res.on('data', (c: Buffer) => {
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
    async close() {},
  }
}
