// The compose target (E2E_TARGET=compose) against a stand-in for `docker
// compose`: no container engine runs here, so the stand-in plays the
// containers' side. It records each invocation and runs `exec`'s command
// on this machine, with the addresses only a container has (its sidecar's
// 127.0.0.1:15001, another app's compose service name) pointed at servers of
// this test on port 0. What runs in the containers is the target's own script,
// unchanged, so this checks what it sends, to whom, and how it reads answers.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { CertificateAuthority } from '@docs-mesh/mesh'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { COMPOSE_NAMES, startComposeTarget } from '../src/compose-target.ts'
import type { Target } from '../src/target.ts'

const run = promisify(execFile)
const dir = mkdtempSync(join(tmpdir(), 'compose-target-'))
const calls = join(dir, 'calls.jsonl')
const standIn = join(dir, 'docker-compose-stand-in.mjs')
writeFileSync(
  standIn,
  `import { appendFileSync, readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
const args = process.argv.slice(2)
appendFileSync(${JSON.stringify(calls)}, JSON.stringify(args) + '\\n')
const exec = args.indexOf('exec')
const [, , container, program, ...rest] = args.slice(exec)
if (program === 'cat') process.stdout.write(readFileSync(process.env.STAND_IN_ROOT_PEM, 'utf8'))
else {
  const map = JSON.parse(process.env.STAND_IN_ADDRESSES)
  const swapped = rest.map((a) => Object.entries(map).reduce((s, [from, to]) => s.replaceAll(from, to), a))
  const r = spawnSync(process.execPath, swapped, { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}
`,
)

const listen = async (server: Server) => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as AddressInfo).port
}

let target: Target
const proxied: Array<{ url: string; host: string; method: string }> = []
const servers: Server[] = []

beforeAll(async () => {
  // The caller's sidecar: answers as the destination's policy would.
  const sidecar = createServer((req: IncomingMessage, res) => {
    proxied.push({ url: req.url ?? '', host: req.headers.host ?? '', method: req.method ?? '' })
    res.writeHead(403, { server: 'envoy', 'content-type': 'text/plain' }).end('RBAC: access denied')
  })
  // A destination sidecar's inbound port that a client outside the mesh reaches: it closes on a plaintext request.
  const strict = createServer((req) => req.socket.destroy())
  const ca = await CertificateAuthority.create('stand-in mesh root')
  const gatewayCert = await ca.issueServerCertificate(['localhost'], 3600_000)
  const gateway = createHttpsServer({ cert: gatewayCert.certPem, key: gatewayCert.keyPem }, (req, res) => {
    res.writeHead(200, { server: 'istio-envoy' }).end(`${req.method} ${req.url} ${req.headers.host}`)
  })
  servers.push(sidecar, strict, gateway)
  const [sidecarPort, strictPort, gatewayPort] = await Promise.all(servers.map(listen))
  const rootPem = join(dir, 'root.pem')
  writeFileSync(rootPem, ca.rootPem)
  process.env.STAND_IN_ROOT_PEM = rootPem
  process.env.STAND_IN_ADDRESSES = JSON.stringify({
    'http://127.0.0.1:15001': `http://127.0.0.1:${sidecarPort}`,
    'signing-api:8001': `127.0.0.1:${strictPort}`,
  })
  target = await startComposeTarget({
    composeFile: '/srv/docs-mesh/docker-compose.yml',
    gatewayUrl: `https://127.0.0.1:${gatewayPort}`,
    gatewayHost: 'localhost',
    compose: [process.execPath, standIn],
  })
})

afterAll(async () => {
  await target?.close()
  for (const s of servers) await new Promise((r) => s.close(r))
  rmSync(dir, { recursive: true, force: true })
})

const invocations = () =>
  readFileSync(calls, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as string[])

describe('the compose target', () => {
  it('reads the mesh root certificate from the control plane’s container', () => {
    expect(invocations()[0]).toEqual([
      '-f',
      '/srv/docs-mesh/docker-compose.yml',
      'exec',
      '-T',
      'control-plane',
      'cat',
      '/var/lib/mesh/ca/root.pem',
    ])
  })

  it('calls as a workload from inside its app container, through its sidecar’s outbound port', async () => {
    const res = await target.meshCall('bucket-api', 'admin-api', 8005, 'POST', '/admin/users?x=1')
    expect(res).toEqual({
      exitCode: 0,
      status: 403,
      body: 'RBAC: access denied',
      server: 'envoy',
      reached: null,
    })
    // An absolute-form request naming the Service, as the app's HTTP_PROXY client sends it.
    expect(proxied.at(-1)).toEqual({
      method: 'POST',
      url: 'http://admin-api.docs.svc.cluster.local:8005/admin/users?x=1',
      host: 'admin-api.docs.svc.cluster.local:8005',
    })
    expect(invocations().at(-1)?.slice(0, 7)).toEqual([
      '-f',
      '/srv/docs-mesh/docker-compose.yml',
      'exec',
      '-T',
      'bucket-api',
      'node',
      '-e',
    ])
  })

  it('refuses to stand in for the gateway’s identity', async () => {
    await expect(target.meshCall('ingress', 'frontend', 8080, 'GET', '/')).rejects.toThrow(/gateway identity/)
  })

  it('calls plaintext from a container outside the mesh, to the app’s compose service name', async () => {
    const res = await target.refusedCall('plaintext', 'signing-api', 8001)
    expect(res).toEqual({ exitCode: 56 })
    expect(invocations().at(-1)?.slice(4, 6)).toEqual(['oidc-provider', 'node'])
    expect(invocations().at(-1)).toContain('http://signing-api:8001/health')
  })

  it('calls the gateway trusting the mesh root, as a browser on localhost', async () => {
    const res = await target.gatewayCall('GET', '/auth/openapi.json')
    expect(res).toEqual({
      exitCode: 0,
      status: 200,
      body: 'GET /auth/openapi.json localhost',
      server: 'istio-envoy',
      reached: null,
    })
  })

  it('decides policy from the manifests the control plane runs', () => {
    expect(target.policyDecision?.('bucket-api', 'signing-api', 8001, 'POST', '/sign')).toBe('allow')
    expect(target.policyDecision?.('frontend', 'signing-api', 8001, 'POST', '/sign')).toBe('deny')
  })
})

// The script the target runs in containers, on its own: curl's 28 when nothing answers in time.
describe('the in-container request script', () => {
  it('gives up with curl’s 28 when nothing answers in time', async () => {
    const silent = createServer(() => {})
    const port = await listen(silent)
    try {
      const script = readFileSync(new URL('../src/compose-target.ts', import.meta.url), 'utf8').match(
        /const FETCH_SCRIPT = `([\s\S]*?)`/,
      )?.[1]
      const { stdout } = await run(process.execPath, [
        '-e',
        script ?? '',
        'GET',
        `http://127.0.0.1:${port}/`,
        '300',
        '',
      ])
      expect(JSON.parse(stdout)).toEqual({ exitCode: 28 })
    } finally {
      silent.closeAllConnections()
      await new Promise((r) => silent.close(r))
    }
  })
})

describe('the names the target uses', () => {
  interface Service {
    command?: string[]
    environment?: Record<string, string>
    network_mode?: string
  }
  const compose = parse(readFileSync(new URL('../../../docker-compose.yml', import.meta.url), 'utf8'), {
    merge: true,
  }) as { services: Record<string, Service> }
  const apps = Object.values(compose.services).flatMap((s) =>
    s.network_mode?.startsWith('service:') ? [s.network_mode.slice('service:'.length)] : [],
  )

  it('are docker-compose.yml’s', () => {
    expect(apps.length).toBeGreaterThan(0)
    for (const app of apps)
      expect(compose.services[app]?.environment?.HTTP_PROXY, app).toBe(COMPOSE_NAMES.outboundProxy)
    const command = compose.services[COMPOSE_NAMES.controlPlane]?.command ?? []
    expect(`${command[command.indexOf('--mesh-dir') + 1]}/ca/root.pem`).toBe(COMPOSE_NAMES.rootCert)
    // Outside the mesh: no sidecar joins it, and it is no app.
    expect(compose.services[COMPOSE_NAMES.outside]).toBeDefined()
    expect(apps).not.toContain(COMPOSE_NAMES.outside)
    expect(compose.services[COMPOSE_NAMES.outside]?.network_mode).toBeUndefined()
  })
})
