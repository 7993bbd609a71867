// What happens to blobs when things go wrong or time passes: expiry, the
// sweeper, and a bucket-api process killed (SIGKILL) in the middle of uploads.
import { type ChildProcess, spawn } from 'node:child_process'
import { on, once } from 'node:events'
import { readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'
import { sealFile, uploadForm } from './browser.ts'
import { type BucketFixture, startBucketFixture } from './fixture.ts'

const TEXT = Buffer.from('quarterly numbers\n'.repeat(20_000))

/** The port a child bound (PORT=0), from the `listening {"port":N}` line runService prints with REPORT_LISTENING. */
async function reportedPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const deadline = AbortSignal.timeout(timeoutMs)
  try {
    for await (const line of on(lines, 'line', { signal: deadline })) {
      const match = /^listening (\{.*\})$/.exec(String(line[0]))
      if (match) return (JSON.parse(match[1] as string) as { port: number }).port
    }
  } catch (error) {
    if (deadline.aborted) throw new Error(`the child reported no port within ${timeoutMs} ms`)
    throw error
  }
  throw new Error('the child exited before it reported its port')
}

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe.each(testDatabaseKinds(process.env))('blob housekeeping on %s', (kind) => {
  let f: BucketFixture
  beforeAll(async () => {
    f = await startBucketFixture(kind)
  })
  afterAll(() => f.close())

  const dir = (name: 'blobs' | 'incoming') => readdirSync(join(f.blobDir, name))
  const send = async (url = f.url) => {
    const { alice, bob } = f.users
    const sealed = await sealFile({
      plaintext: TEXT,
      filename: 'numbers.txt',
      contentType: 'text/plain',
      recipient: bob.id,
      recipientKey: bob.encryptionKey,
      sender: alice.keys,
      senderKeyId: alice.signingKeyId,
    })
    return fetch(`${url}/buckets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}` },
      body: uploadForm(sealed),
    })
  }

  it('expires buckets past their time, removes their blobs and audits it', async () => {
    const active = (await (await send()).json()) as { id: string }
    const claimed = (await (await send()).json()) as { id: string }
    await f.app.inject({
      method: 'POST',
      url: `/buckets/${claimed.id}/claim`,
      headers: { authorization: `Bearer ${f.users.bob.token}` },
    })
    const past = new Date(Date.now() - 1000).toISOString()
    await f.app.database.db
      .updateTable('buckets')
      .set({ expires_at: past })
      .where('id', 'in', [active.id, claimed.id])
      .execute()

    const result = await f.app.housekeeping.expire()
    // Exactly the one active bucket expires; both blobs go.
    expect(result).toEqual({ expired: 1, blobsRemoved: 2 })
    const rows = await f.app.database.db
      .selectFrom('buckets')
      .selectAll()
      .where('id', 'in', [active.id, claimed.id])
      .execute()
    expect(rows.find((r) => r.id === active.id)).toMatchObject({
      status: 'expired',
      expired_at: expect.any(String),
    })
    // A claimed bucket stays claimed, but its ciphertext goes at expiry too.
    expect(rows.find((r) => r.id === claimed.id)).toMatchObject({
      status: 'claimed',
      blob_deleted_at: expect.any(String),
    })
    expect(dir('blobs')).not.toContain(active.id)
    expect(dir('blobs')).not.toContain(claimed.id)
    const audit = await f.app.database.db
      .selectFrom('audit_entries')
      .select('data')
      .where('type', '=', 'bucket.expire')
      .execute()
    expect(audit.map((a) => JSON.parse(a.data).bucket_id)).toContain(active.id)
    // Running again finds nothing more to do.
    expect(await f.app.housekeeping.expire()).toEqual({ expired: 0, blobsRemoved: 0 })
  })

  it('sweeps abandoned uploads and blobs no bucket refers to, once past the grace period, and nothing else', async () => {
    const live = (await (await send()).json()) as { id: string }
    const orphan = '00000000-0000-4000-8000-000000000001'
    writeFileSync(join(f.blobDir, 'blobs', orphan), 'ciphertext nobody refers to')
    writeFileSync(join(f.blobDir, 'incoming', 'stale.part'), 'half an upload')
    writeFileSync(join(f.blobDir, 'incoming', 'fresh.part'), 'an upload in flight')
    const hourAgo = new Date(Date.now() - 3600_000)
    for (const p of [join('blobs', orphan), join('blobs', live.id), join('incoming', 'stale.part')])
      utimesSync(join(f.blobDir, p), hourAgo, hourAgo)

    expect(await f.app.housekeeping.sweep()).toEqual({ abandoned: 1, orphans: 1 })
    expect(dir('blobs')).toContain(live.id)
    expect(dir('blobs')).not.toContain(orphan)
    expect(dir('incoming')).toEqual(['fresh.part'])
    const claim = await f.app.inject({
      method: 'POST',
      url: `/buckets/${live.id}/claim`,
      headers: { authorization: `Bearer ${f.users.bob.token}` },
    })
    expect(claim.statusCode).toBe(200)
    for (const name of dir('incoming'))
      await import('node:fs/promises').then((fs) => fs.rm(join(f.blobDir, 'incoming', name)))
  })

  describe('a process killed mid-upload', () => {
    let child: ChildProcess
    let hang: Server
    const bucketIds = async () =>
      (await f.app.database.db.selectFrom('buckets').select('id').execute()).map((r) => r.id)

    async function startChild(env: Record<string, string>): Promise<string> {
      // The child binds any free port and says which: nothing is freed here and handed over later.
      child = spawn(process.execPath, ['--import', 'tsx', '--conditions=development', 'src/server.ts'], {
        cwd: join(import.meta.dirname, '..'),
        env: { ...process.env, ...f.env, ...env, PORT: '0', REPORT_LISTENING: 'true', LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      // A cold start compiles the app's TypeScript: seconds on a quiet machine, more on a busy one.
      const url = `http://127.0.0.1:${await reportedPort(child, 60_000)}`
      await until(
        async () => (await fetch(`${url}/health`).catch(() => null))?.ok === true,
        'the child to serve',
      )
      return url
    }

    afterAll(async () => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      hang?.closeAllConnections()
      hang?.close()
    })

    it('leaves no bucket without its blob and, after a sweep, no blob or upload without its bucket', async () => {
      // signing-api takes the receipt and never answers: uploads stop after their blob is durable.
      hang = createServer(() => {})
      hang.listen(0, '127.0.0.1')
      await once(hang, 'listening')
      const url = await startChild({
        SIGNING_API_URL: `http://127.0.0.1:${(hang.address() as AddressInfo).port}`,
        UPSTREAM_TIMEOUT_MS: '60000',
      })
      const before = await bucketIds()
      const blobsBefore = dir('blobs').length

      // Two uploads reach the receipt; three more are still streaming their ciphertext.
      const whole = [send(url).catch(() => null), send(url).catch(() => null)]
      const aborts = [0, 1, 2].map(() => new AbortController())
      const partial = aborts.map(async (abort) => {
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(
              new TextEncoder().encode(
                '--x\r\nContent-Disposition: form-data; name="ciphertext"; filename="c"\r\n\r\n',
              ),
            )
            controller.enqueue(new Uint8Array(64 * 1024))
          },
        })
        return fetch(`${url}/buckets`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${f.users.alice.token}`,
            'content-type': 'multipart/form-data; boundary=x',
          },
          body,
          duplex: 'half',
          signal: abort.signal,
        } as RequestInit).catch(() => null)
      })
      await until(
        () => dir('blobs').length >= blobsBefore + 2 && dir('incoming').length >= 3,
        'uploads to be in flight',
      )

      child.kill('SIGKILL')
      await once(child, 'exit')
      for (const a of aborts) a.abort()
      await Promise.all([...whole, ...partial])

      // Nothing visible: no bucket was written, so none lacks its blob.
      expect(await bucketIds()).toEqual(before)
      const rows = await f.app.database.db.selectFrom('buckets').select(['id', 'blob_deleted_at']).execute()
      for (const row of rows) if (row.blob_deleted_at === null) expect(dir('blobs')).toContain(row.id)
      expect(dir('blobs').length).toBe(blobsBefore + 2)
      // The three uploads still streaming, and nothing else.
      expect(dir('incoming')).toHaveLength(3)

      // A restarted bucket-api sweeps what the dead one left.
      const restarted = await buildApp(loadServiceConfig({ ...f.env, ORPHAN_GRACE_SECONDS: '0' }), {
        logger: false,
      })
      const abandoned = dir('incoming').length
      try {
        expect(await restarted.housekeeping.sweep(new Date(Date.now() + 1000))).toEqual({
          abandoned,
          orphans: 2,
        })
      } finally {
        await restarted.close()
      }
      expect(dir('incoming')).toEqual([])
      expect(dir('blobs').length).toBe(blobsBefore)
      for (const row of rows) if (row.blob_deleted_at === null) expect(dir('blobs')).toContain(row.id)
    }, 120_000)
  })
})
