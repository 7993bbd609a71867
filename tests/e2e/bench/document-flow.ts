// pnpm bench, part two: the document flow's costs on the running system
// (started as pnpm dev starts it, on free ports). POST /sign and POST /verify
// rates and p99, direct to the app and through the local mesh, beside
// node:crypto's raw Ed25519 sign and verify rates measured in this same run;
// then a 5 MiB upload through the gateway, in MB/s. Beside them, the floor: the
// same requests to a Fastify app that does nothing but the signature
// (bare-crypto-server.ts). Loopback only, bounded: each measurement runs a few
// seconds with a fixed number in flight.
import { spawn } from 'node:child_process'
import { createHash, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { sealFile } from '@docs-mesh/frontend/crypto'
import { GATEWAY, sidecarProcessName, startThrowawaySystem } from '@docs-mesh/mesh/system'
import { Agent, type Dispatcher, Pool, ProxyAgent } from 'undici'
import { LOAD_TEST_APP_ENV } from '../src/load-test-env.ts'
import { type SignedInUser, signInUsers } from '../src/signed-in-users.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SECONDS = 3
const IN_FLIGHT = 8
const UPLOADS = 8

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

/** More in flight, for POST /sign: group commit batches what arrives together. */
const IN_FLIGHT_BATCHED = 64

/**
 * CPU seconds (user + system) and resident MiB of a process and its children
 * (its process group: an app runs under its package's start script), from /proc (Linux).
 */
function groupUsage(pgid: number): { cpuSeconds: number; rssMiB: number } {
  let cpuSeconds = 0
  let rssKiB = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // After the parenthesised name: field 5 is the process group, 14 and 15 utime and stime in ticks.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[2]) !== pgid) continue
      cpuSeconds += (Number(fields[11]) + Number(fields[12])) / 100
      rssKiB += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1] ?? 0)
    } catch {
      // The process ended while it was read.
    }
  }
  return { cpuSeconds, rssMiB: rssKiB / 1024 }
}

/** Runs `op` with IN_FLIGHT (or inFlight) at a time for SECONDS: operations per second and latency percentiles. */
async function measure(
  op: () => Promise<void>,
  inFlight = IN_FLIGHT,
): Promise<{ rate: number; p50: number; p99: number }> {
  const latencies: number[] = []
  const until = performance.now() + SECONDS * 1000
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < until) {
        const t = performance.now()
        await op()
        latencies.push(performance.now() - t)
      }
    }),
  )
  latencies.sort((a, b) => a - b)
  return { rate: latencies.length / SECONDS, p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
}

function rawRate(fn: () => void): number {
  let n = 0
  const until = performance.now() + SECONDS * 1000
  while (performance.now() < until) {
    for (let i = 0; i < 100; i++) fn()
    n += 100
  }
  return n / SECONDS
}

async function post(
  dispatcher: Dispatcher,
  origin: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const res = await dispatcher.request({
    origin,
    path,
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  })
  const text = await res.body.text()
  if (res.statusCode !== 200)
    throw new Error(`${origin}${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`)
  return JSON.parse(text) as Record<string, string>
}

/** The floor's Fastify app, in a process of its own as each app has, run as this bench is (tsx). */
async function startBareCryptoServer() {
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(new URL('./bare-crypto-server.ts', import.meta.url))],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string]
  return { child, origin: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` }
}

const bare = await startBareCryptoServer()
const system = await startThrowawaySystem({ root: ROOT, log: () => {}, appEnv: LOAD_TEST_APP_ENV })
const dir = system.dir
const rows: string[] = []
const row = (what: string, r: { rate: number; p50?: number; p99?: number }) => {
  const line = `| ${what} | ${r.rate.toFixed(0)}/s | ${r.p50?.toFixed(2) ?? '–'} ms | ${r.p99?.toFixed(2) ?? '–'} ms |`
  rows.push(line)
  process.stdout.write(`${line}\n`)
}
try {
  const ca = readFileSync(join(dir, 'mesh', 'ca', 'root-cert.pem'))
  const gateway = new Agent({ connect: { ca }, connections: 32 })
  const w = system.state.workloads
  const xfcc = (from: string, to: string) => ({
    'x-forwarded-client-cert': `By=spiffe://cluster.local/ns/docs/sa/${to};Hash=0;Subject="";URI=spiffe://cluster.local/ns/docs/sa/${from}`,
  })
  const digest = createHash('sha256').update('a document').digest('hex')

  process.stdout.write('| operation | rate | p50 | p99 |\n|---|---|---|---|\n')
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const raw = Buffer.from(digest, 'hex')
  const rawSignature = sign(null, raw, privateKey)
  const rawSign = { rate: rawRate(() => sign(null, raw, privateKey)) }
  row('node:crypto Ed25519 sign (one core, no I/O)', rawSign)
  const rawVerify = { rate: rawRate(() => verify(null, raw, publicKey, rawSignature)) }
  row('node:crypto Ed25519 verify (one core, no I/O)', rawVerify)

  const signingDirect = new Pool(`http://127.0.0.1:${w['signing-api']?.appPort}`, { connections: IN_FLIGHT })
  const signBody = { sha256: digest, purpose: 'upload_receipt', subject_id: 'bench' }
  const signDirect = () =>
    post(
      signingDirect,
      `http://127.0.0.1:${w['signing-api']?.appPort}`,
      '/sign',
      signBody,
      xfcc('bucket-sa', 'signing-sa'),
    ).then(() => undefined)
  const signDirect8 = await measure(signDirect)
  row('POST /sign, direct to signing-api', signDirect8)
  const signingBatched = new Pool(`http://127.0.0.1:${w['signing-api']?.appPort}`, {
    connections: IN_FLIGHT_BATCHED,
  })
  const signDirect64 = await measure(
    () =>
      post(
        signingBatched,
        `http://127.0.0.1:${w['signing-api']?.appPort}`,
        '/sign',
        signBody,
        xfcc('bucket-sa', 'signing-sa'),
      ).then(() => undefined),
    IN_FLIGHT_BATCHED,
  )
  row(`POST /sign, direct to signing-api, ${IN_FLIGHT_BATCHED} in flight`, signDirect64)
  const viaBucketSidecar = new ProxyAgent({
    uri: `http://127.0.0.1:${w['bucket-api']?.proxyPort}`,
    proxyTunnel: false,
    connections: IN_FLIGHT,
  })
  let signed: Record<string, string> = {}
  row(
    'POST /sign, bucket-api → signing-api through the mesh (mTLS, policy)',
    await measure(async () => {
      signed = await post(
        viaBucketSidecar,
        'http://signing-api.docs.svc.cluster.local:8001',
        '/sign',
        signBody,
      )
    }),
  )

  const verifyBody = { sha256: digest, signature: signed.signature, key_id: signed.key_id }
  const verificationDirect = new Pool(`http://127.0.0.1:${w['verification-api']?.appPort}`, {
    connections: IN_FLIGHT,
  })
  const verifyDirect = await measure(async () => {
    const r = await post(
      verificationDirect,
      `http://127.0.0.1:${w['verification-api']?.appPort}`,
      '/verify',
      verifyBody,
    )
    if (r.reason !== 'valid') throw new Error(`verify said ${r.reason}`)
  })
  row('POST /verify, direct to verification-api', verifyDirect)
  const verifyProcesses = [GATEWAY, sidecarProcessName('verification-api'), 'verification-api']
  const pids = verifyProcesses.map((name) => system.processes.pidOf(name))
  const cpuBefore = pids.map((pid) => (pid === undefined ? 0 : groupUsage(pid).cpuSeconds))
  const viaGateway = await measure(async () => {
    await post(gateway, system.gatewayUrl, '/verify', verifyBody)
  })
  const cpuAfter = pids.map((pid) => (pid === undefined ? 0 : groupUsage(pid).cpuSeconds))
  row('POST /verify, through the gateway (TLS, mesh, policy)', viaGateway)

  // The floor: the same bodies to a Fastify app that only signs or verifies.
  const bareSigning = new Pool(bare.origin, { connections: IN_FLIGHT })
  const bareSign = await measure(() =>
    post(bareSigning, bare.origin, '/sign', signBody).then(() => undefined),
  )
  row('POST /sign, a Fastify app that only signs (the floor)', bareSign)
  const bareSigned = await post(bareSigning, bare.origin, '/sign', signBody)
  const bareVerifyBody = { ...verifyBody, signature: bareSigned.signature }
  const bareVerify = await measure(async () => {
    const r = await post(bareSigning, bare.origin, '/verify', bareVerifyBody)
    if (r.valid !== (true as unknown)) throw new Error('the floor did not verify')
  })
  row('POST /verify, a Fastify app that only verifies (the floor)', bareVerify)

  // Two users with sessions (made as identity-api makes them) and keys registered through the gateway.
  const [alice, bob] = (await signInUsers(system, gateway, ['alice', 'bob'])) as [SignedInUser, SignedInUser]
  const file = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(5 * 1024 * 1024 - 9)])
  const sealed = await sealFile({
    plaintext: new Uint8Array(file),
    filename: 'bench.pdf',
    contentType: 'application/pdf',
    recipient: bob.email,
    recipientKey: bob.encryption,
    signingKey: alice.keys.signing.privateKey,
    signingKeyId: alice.signing.key_id,
  })
  // The multipart body as a browser's FormData encodes it, sent as bytes.
  const form = new FormData()
  for (const [k, v] of Object.entries(sealed.fields)) form.append(k, v)
  form.append('ciphertext', new Blob([sealed.ciphertext]), 'ciphertext')
  const encoded = new Response(form)
  const contentType = encoded.headers.get('content-type') ?? ''
  const body = Buffer.from(await encoded.arrayBuffer())
  const uploadMs: number[] = []
  for (let i = 0; i < UPLOADS; i++) {
    const t = performance.now()
    const res = await gateway.request({
      origin: system.gatewayUrl,
      path: '/buckets',
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': contentType },
      body,
    })
    const text = await res.body.text()
    if (res.statusCode !== 201) throw new Error(`upload: HTTP ${res.statusCode} ${text.slice(0, 200)}`)
    uploadMs.push(performance.now() - t)
  }
  uploadMs.sort((a, b) => a - b)
  const mb = sealed.ciphertext.length / 1e6
  const line = `| 5 MiB upload through the gateway (${UPLOADS} sequential) | ${(mb / (percentile(uploadMs, 50) / 1000)).toFixed(1)} MB/s at p50 | ${percentile(uploadMs, 50).toFixed(0)} ms | ${(uploadMs.at(-1) ?? 0).toFixed(0)} ms (max) |`
  rows.push(line)
  process.stdout.write(`${line}\n`)
  // Issue 15's targets, as ratios of the raw rates measured in this run.
  const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)} %`
  process.stdout.write(
    `\nPOST /verify through the gateway, per process (the clock ticks of /proc: 10 ms):\n` +
      '| process | CPU per request | vCPU per 1,000 req/s | RSS after |\n|---|---|---|---|\n' +
      verifyProcesses
        .map((name, i) => {
          const cpu = (cpuAfter[i] as number) - (cpuBefore[i] as number)
          const requests = viaGateway.rate * SECONDS
          const pid = pids[i]
          const rss = pid === undefined ? Number.NaN : groupUsage(pid).rssMiB
          return `| ${name} | ${((cpu / requests) * 1e6).toFixed(0)} µs | ${(cpu / SECONDS / (viaGateway.rate / 1000)).toFixed(2)} | ${rss.toFixed(0)} MiB |\n`
        })
        .join('') +
      'Envoy (Istio 1.16.2, istio.io performance-and-scalability): 0.35 vCPU and 40 MB per 1,000 req/s per proxy\n' +
      `\nPOST /sign / raw sign: ${pct(signDirect8.rate, rawSign.rate)} with ${IN_FLIGHT} in flight, ${pct(signDirect64.rate, rawSign.rate)} with ${IN_FLIGHT_BATCHED} (target >= 30 %)\n` +
      `POST /verify / raw verify: ${pct(verifyDirect.rate, rawVerify.rate)} (target >= 50 %)\n` +
      `The floor, a Fastify app that only signs / verifies: ${pct(bareSign.rate, rawSign.rate)} of raw sign, ${pct(bareVerify.rate, rawVerify.rate)} of raw verify; ` +
      `POST /sign at ${IN_FLIGHT} in flight is ${pct(signDirect8.rate, bareSign.rate)} of it, POST /verify ${pct(verifyDirect.rate, bareVerify.rate)}\n`,
  )
} finally {
  bare.child.kill('SIGTERM')
  await system.stop()
}
