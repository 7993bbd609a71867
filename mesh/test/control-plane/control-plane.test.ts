// The control plane as its proxies meet it: a certificate only for the
// identity its token names, from a CSR whose key never leaves the caller;
// configuration pushed to running sidecars when the manifests change, a bad
// edit refused while the last good configuration keeps running; SVIDs renewed
// at half-life with traffic still flowing.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newCertificateRequest } from '../../src/control-plane/client.ts'
import { type RunningControlPlane, startControlPlane } from '../../src/control-plane/control-plane.ts'
import { GATEWAY_TOKEN_NAME, readToken, tokenFile } from '../../src/control-plane/tokens.ts'
import { type RunningSidecarProcess, runSidecar } from '../../src/runtime/sidecar-process.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

const BASE = fileURLToPath(new URL('../../../k8s/base', import.meta.url))
/** Short, so rotations happen during the test: each SVID renews at half of it. */
const SVID_TTL_MS = 4_000

/** Polls `check` until it holds (bounded): what a push reaches is seen on the next request. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`not within ${timeoutMs} ms: ${what}`)
}

describe('mesh control plane', () => {
  let dir: string
  let manifests: string
  let cp: RunningControlPlane
  let apps: EchoApps
  const sidecars: RunningSidecarProcess[] = []
  const logs: string[] = []
  let agent: Agent
  const tokenOf = (name: string) => readToken(tokenFile(join(dir, 'mesh'), name))
  const call = async (method: 'GET' | 'POST', path: string, token: string | null, body?: unknown) => {
    const res = await request(`${cp.url}${path}`, {
      method,
      dispatcher: agent,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    })
    const text = await res.body.text()
    return { status: res.statusCode, type: res.headers['content-type'], json: text ? JSON.parse(text) : null }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-cp-'))
    manifests = join(dir, 'k8s')
    cpSync(BASE, manifests, { recursive: true })
    cp = await startControlPlane({
      manifests,
      meshDir: join(dir, 'mesh'),
      port: 0,
      svidLifetimeMs: SVID_TTL_MS,
      log: (line) => logs.push(line),
    })
    agent = new Agent({ connect: { ca: readFileSync(join(dir, 'mesh', 'ca', 'root.pem'), 'utf8') } })
    apps = await startEchoApps(['bucket-api', 'signing-api'])
    for (const workload of ['bucket-api', 'signing-api'])
      sidecars.push(
        await runSidecar({
          workload,
          controlPlane: cp.url,
          tokenFile: tokenFile(join(dir, 'mesh'), workload),
          rootCertFile: join(dir, 'mesh', 'ca', 'root.pem'),
          appPort: apps.ports[workload] as number,
          // signing-api's sidecar on another loopback address: callers must dial the address it registered.
          advertiseAddress: workload === 'signing-api' ? '127.0.0.2' : '127.0.0.1',
          inboundHost: workload === 'signing-api' ? '127.0.0.2' : '127.0.0.1',
          inboundPorts: 'ephemeral',
          outboundPort: 0,
          healthPort: 0,
          statsPort: 0,
          reportDecisions: false,
          exitOnStdinClose: false,
          out: () => {},
          log: (line) => logs.push(`${workload}: ${line}`),
        }),
      )
  }, 60_000)

  afterAll(async () => {
    for (const s of sidecars) await s.close()
    await apps?.close()
    await cp?.close()
    await agent?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('signs a CSR for the identity the token names, whatever the CSR asks for', async () => {
    // A CSR that asks for the admin identity, sent with bucket-api's token.
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'url', value: 'spiffe://cluster.local/ns/docs/sa/admin-sa' },
        ]),
      ],
    })
    const res = await call('POST', '/v1/certificates', tokenOf('bucket-api'), { csr: csr.toString('pem') })
    expect(res.status).toBe(200)
    const leaf = new x509.X509Certificate(res.json.certificateChain[0])
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension)
    expect(san?.names.items.map((n) => n.value)).toEqual(['spiffe://cluster.local/ns/docs/sa/bucket-sa'])
    // The key certified is the CSR's own: the private key stayed with the caller.
    const certified = await leaf.publicKey.export()
    expect(Buffer.from(await crypto.subtle.exportKey('spki', certified))).toEqual(
      Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey)),
    )
    expect(res.json.rootPem).toBe(cp.ca.rootPem)
  })

  it('refuses a missing or unknown token, a broken CSR, a serving certificate for a workload, and another workload’s config', async () => {
    const { csrPem } = await newCertificateRequest()
    const none = await call('POST', '/v1/certificates', null, { csr: csrPem })
    expect(none).toMatchObject({
      status: 401,
      type: 'application/problem+json; charset=utf-8',
      json: { code: 'ERR_TOKEN_INVALID' },
    })
    const forged = await call('POST', '/v1/certificates', 'A'.repeat(43), { csr: csrPem })
    expect(forged).toMatchObject({ status: 401, json: { code: 'ERR_TOKEN_INVALID' } })
    const broken = await call('POST', '/v1/certificates', tokenOf('bucket-api'), { csr: 'abc' })
    expect(broken).toMatchObject({ status: 400, json: { code: 'ERR_CSR_INVALID' } })
    // A CSR whose signature is not the key holder's: its body altered after signing.
    const tampered = csrPem.replace(/\n(.)(.)/, (_m, a: string, b: string) => `\n${b}${a}`)
    expect((await call('POST', '/v1/certificates', tokenOf('bucket-api'), { csr: tampered })).status).toBe(
      400,
    )
    const hosts = await call('POST', '/v1/certificates', tokenOf('bucket-api'), {
      csr: csrPem,
      hosts: ['localhost'],
    })
    expect(hosts).toMatchObject({ status: 403, json: { code: 'ERR_HOSTS_FORBIDDEN' } })
    const gatewayHosts = await call('POST', '/v1/certificates', tokenOf(GATEWAY_TOKEN_NAME), {
      csr: csrPem,
      hosts: ['evil.example'],
    })
    expect(gatewayHosts).toMatchObject({ status: 403, json: { code: 'ERR_HOSTS_FORBIDDEN' } })
    const other = await call('GET', '/v1/config?workload=admin-api', tokenOf('bucket-api'))
    expect(other).toMatchObject({ status: 403, json: { code: 'ERR_WORKLOAD_FORBIDDEN' } })
    const register = await call('POST', '/v1/endpoints', tokenOf('bucket-api'), {
      workload: 'signing-api',
      address: '127.0.0.1',
      ports: { '8001': 1 },
    })
    expect(register).toMatchObject({ status: 403, json: { code: 'ERR_WORKLOAD_FORBIDDEN' } })
  })

  it('reaches another sidecar at the address it registered', async () => {
    const endpoints = await call('GET', '/v1/endpoints', tokenOf('bucket-api'))
    expect(endpoints.json['signing-api']).toEqual({
      address: '127.0.0.2',
      ports: { '8001': sidecars[1]?.ports.inbound['8001'] },
    })
  })

  // istiod takes endpoints from Kubernetes, which keeps them whatever happens to istiod; a
  // restarted control plane that started empty told the gateway "no healthy upstream" until
  // every sidecar had registered again (found by SIGKILLing it under load).
  it('knows every registered endpoint again after a restart, before any sidecar registers again', async () => {
    const restarted = await startControlPlane({
      manifests,
      meshDir: join(dir, 'mesh'),
      port: 0,
      svidLifetimeMs: SVID_TTL_MS,
      log: () => undefined,
    })
    try {
      const res = await request(`${restarted.url}/v1/endpoints`, {
        dispatcher: agent,
        headers: { authorization: `Bearer ${tokenOf('bucket-api')}` },
      })
      const table = (await res.body.json()) as Record<string, unknown>
      expect(Object.keys(table).sort()).toEqual(['bucket-api', 'signing-api'])
      expect(table['signing-api']).toEqual({
        address: '127.0.0.2',
        ports: { '8001': sidecars[1]?.ports.inbound['8001'] },
      })
    } finally {
      await restarted.close()
    }
  })

  it('pushes a policy edit to running sidecars, keeps the last good configuration on a bad edit, and renews SVIDs under traffic', async () => {
    const bucketOutbound = sidecars[0]?.ports.outbound as number
    // As an app's HTTP_PROXY sends it: the absolute URL in the request line.
    const sign = () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: bucketOutbound,
            path: 'http://signing-api.docs.svc.cluster.local:8001/health',
            headers: { host: 'signing-api.docs.svc.cluster.local:8001' },
            agent: false,
          },
          (res) => {
            let body = ''
            res.on('data', (c: Buffer) => {
              body += c
            })
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
          },
        )
        req.on('error', reject)
        req.end()
      })
    expect(await sign()).toMatchObject({ status: 200 })

    const policies = join(manifests, 'istio', 'authorization-policies.yaml')
    const original = readFileSync(policies, 'utf8')
    writeFileSync(
      policies,
      `${original}\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: deny-health\n  namespace: docs\nspec:\n  selector:\n    matchLabels:\n      app: signing-api\n  action: DENY\n  rules:\n    - to:\n        - operation:\n            paths: ["/health"]\n`,
    )
    await eventually(async () => (await sign()).status === 403, 'the DENY policy enforced')
    expect((await sign()).body).toBe('RBAC: access denied')
    expect(logs.some((l) => /signing-api: configuration version 2 applied/.test(l))).toBe(true)

    // A bad edit: refused with the reason, the sidecars keep enforcing version 2.
    writeFileSync(
      policies,
      `${original}\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: broken\n  namespace: docs\nspec:\n  action: MAYBE\n`,
    )
    await eventually(
      async () => logs.some((l) => /configuration refused, keeping version 2: .*MAYBE/.test(l)),
      'the refusal logged',
    )
    expect(cp.config.snapshot.version).toBe(2)
    expect((await sign()).status).toBe(403)

    // Renewed at half of the short lifetime, with calls going through all along.
    const renewed = () => logs.filter((l) => /^(bucket|signing)-api: SVID renewed/.test(l)).length
    const before = renewed()
    writeFileSync(policies, original)
    await eventually(async () => (await sign()).status === 200, 'the policy removed again')
    await eventually(async () => renewed() >= before + 2, 'both SVIDs renewed')
    for (let i = 0; i < 5; i++) expect((await sign()).status).toBe(200)
  }, 60_000)
})
