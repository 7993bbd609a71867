// pnpm soak: the whole system (started as pnpm dev starts it, on free ports)
// under a steady request rate through the gateway for a bounded time, with
// signed-in traffic: reading the inbox and outbox, /auth/me, the admin's user
// list and audit page, verifying a signature, the public keys, the app's
// page, and a small sealed upload now and then. Reports errors by status,
// latency percentiles, and the RSS of every process (the mesh is this one)
// at the start, at the peak, at the end of the load and after an idle spell.
// Loopback only. Settings: --duration 10m (SOAK_DURATION), --rate 100
// (SOAK_RATE, requests per second), --idle 30s (SOAK_IDLE).
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { sealFile } from '@docs-mesh/frontend/crypto'
import { startThrowawaySystem } from '@docs-mesh/mesh/system'
import { Agent } from 'undici'
import { LOAD_TEST_APP_ENV } from '../src/load-test-env.ts'
import { signInUsers } from '../src/signed-in-users.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** Requests in flight beyond this are counted as shed, not sent: the rate stays open-loop and bounded. */
const MAX_IN_FLIGHT = 256
const REQUEST_TIMEOUT_MS = 10_000

function duration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text)
  if (!match) throw new Error(`not a duration: ${text} (e.g. 90s, 10m)`)
  return Number(match[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h']
}

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: process.env.SOAK_DURATION ?? '10m' },
    rate: { type: 'string', default: process.env.SOAK_RATE ?? '100' },
    idle: { type: 'string', default: process.env.SOAK_IDLE ?? '30s' },
  },
})
const durationMs = duration(values.duration)
const idleMs = duration(values.idle)
const rate = Number(values.rate)
if (!(rate > 0 && rate <= 2_000)) throw new Error('--rate is between 1 and 2000 requests per second')

const out = (line: string) => process.stdout.write(`${line}\n`)
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

function rssMiB(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kb ? Number(kb) / 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

out(`soak: ${values.duration} at ${rate} req/s through the gateway, then ${values.idle} idle`)
const system = await startThrowawaySystem({ root: ROOT, log: () => {}, appEnv: LOAD_TEST_APP_ENV })
try {
  const gateway = new Agent({
    connect: { ca: readFileSync(join(system.dir, 'mesh', 'ca', 'root-cert.pem')) },
    connections: 64,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  })
  const ttlSeconds = Math.ceil((durationMs + idleMs) / 1000) + 600
  const [alice, bob] = await signInUsers(system, gateway, ['alice', 'bob'], { ttlSeconds })
  const [admin] = await signInUsers(system, gateway, ['admin'], { ttlSeconds, role: 'admin' })
  if (!alice || !bob || !admin) throw new Error('sign-in failed')
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

  // One sealed 64 KiB upload, sent again and again (each is a new bucket).
  const sealed = await sealFile({
    plaintext: new Uint8Array(Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(64 * 1024)])),
    filename: 'soak.pdf',
    contentType: 'application/pdf',
    recipient: bob.email,
    recipientKey: bob.encryption,
    signingKey: alice.keys.signing.privateKey,
    signingKeyId: alice.signing.key_id,
  })
  const form = new FormData()
  for (const [k, v] of Object.entries(sealed.fields)) form.append(k, v)
  form.append('ciphertext', new Blob([sealed.ciphertext]), 'ciphertext')
  const encoded = new Response(form)
  const uploadType = encoded.headers.get('content-type') ?? ''
  const uploadBody = Buffer.from(await encoded.arrayBuffer())
  // The first upload's receipt: a real signature for POST /verify to check again and again.
  const first = await gateway.request({
    origin: system.gatewayUrl,
    path: '/buckets',
    method: 'POST',
    headers: { ...bearer(alice.token), 'content-type': uploadType },
    body: uploadBody,
  })
  const bucket = (await first.body.json()) as {
    receipt?: { sha256: string; signature: string; key_id: string }
  }
  if (first.statusCode !== 201 || !bucket.receipt)
    throw new Error(`first upload: ${first.statusCode} ${JSON.stringify(bucket).slice(0, 200)}`)
  const verifyBody = JSON.stringify(
    bucket.receipt && {
      sha256: bucket.receipt.sha256,
      signature: bucket.receipt.signature,
      key_id: bucket.receipt.key_id,
    },
  )

  type Call = {
    name: string
    method: string
    path: string
    headers?: Record<string, string>
    body?: Buffer | string
  }
  const mix: Array<[weight: number, call: Call]> = [
    [
      20,
      {
        name: 'GET /buckets (inbox)',
        method: 'GET',
        path: '/buckets?box=inbox&limit=20',
        headers: bearer(bob.token),
      },
    ],
    [
      10,
      {
        name: 'GET /buckets (outbox)',
        method: 'GET',
        path: '/buckets?box=outbox',
        headers: bearer(alice.token),
      },
    ],
    [20, { name: 'GET /auth/me', method: 'GET', path: '/auth/me', headers: bearer(alice.token) }],
    [15, { name: 'GET /verify/keys', method: 'GET', path: '/verify/keys' }],
    [
      10,
      {
        name: 'POST /verify',
        method: 'POST',
        path: '/verify',
        headers: { 'content-type': 'application/json' },
        body: verifyBody,
      },
    ],
    [10, { name: 'GET / (page)', method: 'GET', path: '/', headers: { accept: 'text/html' } }],
    [
      5,
      {
        name: 'GET /admin/users',
        method: 'GET',
        path: '/admin/users?limit=20',
        headers: bearer(admin.token),
      },
    ],
    [
      5,
      {
        name: 'GET /admin/audit',
        method: 'GET',
        path: '/admin/audit?limit=20',
        headers: bearer(admin.token),
      },
    ],
    [
      1,
      {
        name: 'POST /buckets (64 KiB upload)',
        method: 'POST',
        path: '/buckets',
        headers: { ...bearer(alice.token), 'content-type': uploadType },
        body: uploadBody,
      },
    ],
  ]
  const totalWeight = mix.reduce((n, [w]) => n + w, 0)
  const pick = (i: number): Call => {
    let at = (i * 7919) % totalWeight
    for (const [w, call] of mix) {
      if (at < w) return call
      at -= w
    }
    return mix[0]?.[1] as Call
  }

  const pids = new Map<string, number>([['mesh (this process)', process.pid]])
  for (const name of ['oidc-provider', ...system.model.workloads.map((w) => w.name)]) {
    const pid = system.processes.pidOf(name)
    if (pid !== undefined) pids.set(name, pid)
  }
  const sample = () => new Map([...pids].map(([name, pid]) => [name, rssMiB(pid)]))
  // The mesh runs in this process: its live heap after a full GC tells a leak from RSS the allocator keeps.
  const gc = (globalThis as { gc?: () => void }).gc
  const liveHeapMiB = () => {
    gc?.()
    return process.memoryUsage().heapUsed / 1024 / 1024
  }
  const heapAtStart = liveHeapMiB()
  // A stall of the mesh's own event loop (every sidecar and the gateway run on it) shows here.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  loopDelay.enable()
  const atStart = sample()
  const peak = new Map(atStart)
  const sampler = setInterval(() => {
    for (const [name, mib] of sample()) if (!(mib <= (peak.get(name) ?? 0))) peak.set(name, mib)
  }, 1_000)

  const latencies: number[] = []
  const byName = new Map<string, number[]>()
  const statuses = new Map<string, number>()
  const unexpected: string[] = []
  let inFlight = 0
  let shed = 0
  let sent = 0
  const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1)
  const send = async (call: Call) => {
    inFlight++
    const started = performance.now()
    try {
      const res = await gateway.request({
        origin: system.gatewayUrl,
        path: call.path,
        method: call.method as 'GET',
        headers: call.headers,
        body: call.body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
      const text = await res.body.text()
      const ms = performance.now() - started
      latencies.push(ms)
      const list = byName.get(call.name) ?? []
      list.push(ms)
      byName.set(call.name, list)
      count(String(res.statusCode))
      if (res.statusCode >= 400 && unexpected.length < 20)
        unexpected.push(`${call.name}: ${res.statusCode} ${text.slice(0, 120)}`)
    } catch (error) {
      count(
        (error as Error).name === 'Error'
          ? ((error as { code?: string }).code ?? 'Error')
          : (error as Error).name,
      )
      if (unexpected.length < 20) unexpected.push(`${call.name}: ${(error as Error).message}`)
    } finally {
      inFlight--
    }
  }

  // Open loop: request i leaves at start + i/rate whatever the answers do.
  const started = performance.now()
  const pending = new Set<Promise<void>>()
  let lastReport = started
  for (let i = 0; performance.now() - started < durationMs; i++) {
    const due = started + (i * 1000) / rate
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    if (inFlight >= MAX_IN_FLIGHT) {
      shed++
      continue
    }
    sent++
    const p = send(pick(i))
    pending.add(p)
    void p.finally(() => pending.delete(p))
    if (performance.now() - lastReport > 30_000) {
      lastReport = performance.now()
      out(`  ${((lastReport - started) / 1000).toFixed(0)} s: ${sent} sent, ${inFlight} in flight`)
    }
  }
  await Promise.all(pending)
  loopDelay.disable()
  const elapsed = (performance.now() - started) / 1000
  const atEnd = sample()
  const heapAtEnd = liveHeapMiB()
  await new Promise((r) => setTimeout(r, idleMs))
  clearInterval(sampler)
  const afterIdle = sample()
  const heapAfterIdle = liveHeapMiB()

  latencies.sort((a, b) => a - b)
  const errors = [...statuses].filter(([s]) => !/^[23]\d\d$/.test(s)).reduce((n, [, c]) => n + c, 0)
  out('')
  out(`| requests | achieved rate | errors | shed | p50 | p90 | p99 | p99.9 | max |`)
  out('|---|---|---|---|---|---|---|---|---|')
  out(
    `| ${sent} | ${(sent / elapsed).toFixed(0)}/s | ${errors} | ${shed} | ${percentile(latencies, 50).toFixed(1)} ms | ${percentile(latencies, 90).toFixed(1)} ms | ${percentile(latencies, 99).toFixed(1)} ms | ${percentile(latencies, 99.9).toFixed(1)} ms | ${(latencies.at(-1) ?? 0).toFixed(1)} ms |`,
  )
  out('')
  out(`statuses: ${[...statuses].map(([s, c]) => `${s}×${c}`).join(', ')}`)
  for (const line of unexpected) out(`  ${line}`)
  out('')
  out('| route | requests | p50 | p99 | max |')
  out('|---|---|---|---|---|')
  for (const [name, list] of byName) {
    list.sort((a, b) => a - b)
    out(
      `| ${name} | ${list.length} | ${percentile(list, 50).toFixed(1)} ms | ${percentile(list, 99).toFixed(1)} ms | ${(list.at(-1) ?? 0).toFixed(1)} ms |`,
    )
  }
  out('')
  out(`| process | RSS at start | peak | end of load | after ${values.idle} idle |`)
  out('|---|---|---|---|---|')
  for (const name of pids.keys()) {
    const f = (m: Map<string, number>) => `${(m.get(name) ?? Number.NaN).toFixed(0)} MiB`
    out(`| ${name} | ${f(atStart)} | ${f(peak)} | ${f(atEnd)} | ${f(afterIdle)} |`)
  }
  if (gc)
    out(
      `\nmesh process live heap after a full GC: ${heapAtStart.toFixed(0)} MiB at start, ${heapAtEnd.toFixed(0)} MiB at the end of the load, ${heapAfterIdle.toFixed(0)} MiB after idle`,
    )
  out(
    `mesh event loop delay under load: p50 ${(loopDelay.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms`,
  )
  out(
    `load average at the end (this machine's cores: ${availableParallelism()}): ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  )
  await gateway.close()
  process.exitCode = errors > 0 ? 1 : 0
} finally {
  await system.stop()
}
