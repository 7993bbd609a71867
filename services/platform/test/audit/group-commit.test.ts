// Group commit of the audit chain (issue 15, item 3): appends made together
// share transactions, and still keep one total order, durability before the
// answer, a verifiable chain and per-entry failure isolation, on SQLite and
// PostgreSQL, within one process, across processes and through a crash.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Kysely } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { appendAuditEntry } from '../../src/audit/append-entry.ts'
import { verifyAuditChain } from '../../src/audit/verify-chain.ts'
import { connectDatabase, type DatabaseHandle } from '../../src/db/connect.ts'
import { migrateGroup } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '../../src/testing/test-databases.ts'

const run = promisify(execFile)
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))

/** A record an entry audits, written in the entry's transaction: a row of the signatures table. */
const record = (id: string) => (db: Kysely<Database>) =>
  db
    .insertInto('signatures')
    .values({
      signature_id: id,
      key_id: 'k',
      sha256: '0'.repeat(64),
      purpose: 'upload_receipt',
      subject_id: id,
      user_id: null,
      signature: 's',
      caller: 'test',
      signed_at: new Date().toISOString(),
    })
    .execute()
    .then(() => undefined)

describe.each(testDatabaseKinds(process.env))('audit group commit on %s', (kind) => {
  let database: TestDatabase
  let handle: DatabaseHandle

  beforeEach(async () => {
    database = await createTestDatabase(kind, process.env)
    handle = connectDatabase(database.url)
    await migrateGroup(handle, 'audit')
    await migrateGroup(handle, 'signing')
    // The key the test records name (signatures refer to a signing key).
    await handle.db
      .insertInto('signing_keys')
      .values({
        key_id: 'k',
        public_key: 'x',
        private_key_encrypted: 'x',
        created_at: new Date().toISOString(),
        retired_at: null,
        revoked_at: null,
        revocation_reason: null,
      })
      .execute()
  })
  afterEach(async () => {
    await handle.close()
    await database.drop()
  })

  const signatureIds = async () =>
    (await handle.db.selectFrom('signatures').select('signature_id').execute()).map((r) => r.signature_id)

  it('commits appends made together in shared transactions, in the order they were made, as one gap-free chain', async () => {
    const transactions = new Set<object>()
    const entries = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        appendAuditEntry(
          handle,
          { type: 'test.append', data: { i } },
          {
            with: async (db) => {
              transactions.add(db)
              await record(`sig-${i}`)(db)
            },
          },
        ),
      ),
    )
    // Batched: far fewer transactions than entries.
    expect(transactions.size).toBeLessThan(entries.length / 4)
    // One total order, the order of the calls; each answer is its own entry.
    expect(entries.map((e) => e.id)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
    expect(entries.map((e) => JSON.parse(e.data))).toEqual(Array.from({ length: 200 }, (_, i) => ({ i })))
    for (let i = 1; i < entries.length; i++) expect(entries[i]?.prev_hash).toBe(entries[i - 1]?.hash)
    expect(await verifyAuditChain(handle)).toMatchObject({ valid: true, entries: 200, head: { id: 200 } })
    // What each entry audits committed with it.
    expect((await signatureIds()).sort()).toEqual(Array.from({ length: 200 }, (_, i) => `sig-${i}`).sort())
  })

  it('fails only the entry at fault: its batch-mates commit, nothing of it does', async () => {
    await record('taken')(handle.db)
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        appendAuditEntry(
          handle,
          { type: 'test.append', data: { i } },
          // Entry 17's record collides with an existing row (a real constraint failure).
          { with: record(i === 17 ? 'taken' : `sig-${i}`) },
        ),
      ),
    )
    expect(results.map((r) => r.status)).toEqual(
      Array.from({ length: 30 }, (_, i) => (i === 17 ? 'rejected' : 'fulfilled')),
    )
    const chain = await verifyAuditChain(handle)
    expect(chain).toMatchObject({ valid: true, entries: 29 })
    const data = (await handle.db.selectFrom('audit_entries').select('data').orderBy('id').execute()).map(
      (r) => (JSON.parse(r.data) as { i: number }).i,
    )
    // In call order, without the failed one, each exactly once (a retried batch does not write twice).
    expect(data).toEqual(Array.from({ length: 30 }, (_, i) => i).filter((i) => i !== 17))
    expect((await signatureIds()).sort()).toEqual(
      ['taken', ...Array.from({ length: 30 }, (_, i) => `sig-${i}`).filter((s) => s !== 'sig-17')].sort(),
    )
    // Every fulfilled answer names the entry the database holds.
    for (const r of results)
      if (r.status === 'fulfilled') {
        const row = await handle.db
          .selectFrom('audit_entries')
          .select('hash')
          .where('id', '=', r.value.id)
          .executeTakeFirstOrThrow()
        expect(row.hash).toBe(r.value.hash)
      }
  })

  it('keeps one unbroken chain when 4 processes append in batches at once', async () => {
    await Promise.all(
      [0, 1, 2, 3].map((w) =>
        run(process.execPath, [
          '--disable-warning=ExperimentalWarning',
          fixture('append-worker.ts'),
          database.url,
          '150',
          String(w),
          '25',
        ]),
      ),
    )
    expect(await verifyAuditChain(handle)).toMatchObject({ valid: true, entries: 600, head: { id: 600 } })
    const rows = await handle.db.selectFrom('audit_entries').select('data').orderBy('id').execute()
    const byWorker = new Map<number, number[]>()
    for (const { data } of rows) {
      const { worker, i } = JSON.parse(data) as { worker: number; i: number }
      byWorker.set(worker, [...(byWorker.get(worker) ?? []), i])
    }
    // Each process's entries are all there, each once.
    for (const w of [0, 1, 2, 3])
      expect([...(byWorker.get(w) ?? [])].sort((a, b) => a - b)).toEqual(
        Array.from({ length: 150 }, (_, i) => i),
      )
  }, 120_000)

  it('leaves no half-written batch when the process dies mid-append, and keeps every entry it reported', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', fixture('group-append-worker.ts'), database.url, '64', '0'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const reported: Array<{ id: number; hash: string; i: number }> = []
    const exited = new Promise((resolve) => child.once('exit', resolve))
    // Killed while appending, once it has answered 300 appends: batches are in flight.
    for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
      reported.push(JSON.parse(line) as { id: number; hash: string; i: number })
      if (reported.length === 300) child.kill('SIGKILL')
    }
    await exited
    expect(reported.length).toBeGreaterThanOrEqual(300)

    const chain = await verifyAuditChain(handle)
    expect(chain.valid).toBe(true)
    const rows = await handle.db.selectFrom('audit_entries').select(['id', 'hash', 'data']).execute()
    const byId = new Map(rows.map((r) => [r.id, r]))
    // Durable before the answer: every entry reported as appended is in the chain, as reported.
    for (const r of reported) {
      expect(byId.get(r.id)?.hash).toBe(r.hash)
      expect(JSON.parse(byId.get(r.id)?.data ?? '{}')).toMatchObject({ i: r.i })
    }
    // And the chain holds whole batches only: ids 1..n, no gap, no torn tail.
    expect(rows.map((r) => r.id).sort((a, b) => a - b)).toEqual(
      Array.from({ length: rows.length }, (_, i) => i + 1),
    )
  }, 60_000)
})
