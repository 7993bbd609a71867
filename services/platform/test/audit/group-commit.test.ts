// Group commit of the audit chain (issue 15, item 3): appends made together
// share transactions, and still keep one total order, durability before the
// answer, a verifiable chain and per-entry failure isolation, on SQLite and
// PostgreSQL, within one process, across processes and through a crash. On
// a SQLite file the batches are written by a thread of their own, so the
// event loop keeps running while one commits, and a crash of that thread
// fails its batch with a 503 instead of hanging it.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import SQLite from 'better-sqlite3'
import type { Kysely } from 'kysely'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { appendAuditEntry } from '../../src/audit/append-entry.ts'
import { AuditPreconditionFailed } from '../../src/audit/batch.ts'
import { groupCommitterOf } from '../../src/audit/group-commit.ts'
import type { SqliteWriterThread } from '../../src/audit/sqlite-writer-thread.ts'
import { verifyAuditChain } from '../../src/audit/verify-chain.ts'
import { connectDatabase, type DatabaseHandle } from '../../src/db/connect.ts'
import { migrateGroup } from '../../src/db/migrate.ts'
import type { Database } from '../../src/db/schema.ts'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '../../src/testing/test-databases.ts'

const run = promisify(execFile)
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))

/** A record an entry audits, written in the entry's transaction: a row of the signatures table. */
const record = (id: string) => (db: Kysely<Database>) =>
  db.insertInto('signatures').values({
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

/** Lets the event loop turn until `done()`, at most `turns` times. */
async function turnsUntil(done: () => boolean, turns = 10_000): Promise<void> {
  for (let i = 0; i < turns && !done(); i++) await nextTurn()
  expect(done()).toBe(true)
}

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
    const transactions = vi.spyOn(groupCommitterOf(handle).writer, 'write')
    const entries = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        appendAuditEntry(
          handle,
          { type: 'test.append', data: { i } },
          { writes: [record(`sig-${i}`)(handle.db)] },
        ),
      ),
    )
    // Batched: far fewer transactions than entries.
    expect(transactions.mock.calls.length).toBeLessThan(entries.length / 4)
    // One total order, the order of the calls; each answer is its own entry.
    expect(entries.map((e) => e.id)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
    expect(entries.map((e) => JSON.parse(e.data))).toEqual(Array.from({ length: 200 }, (_, i) => ({ i })))
    for (let i = 1; i < entries.length; i++) expect(entries[i]?.prev_hash).toBe(entries[i - 1]?.hash)
    expect(await verifyAuditChain(handle)).toMatchObject({ valid: true, entries: 200, head: { id: 200 } })
    // What each entry audits committed with it.
    expect((await signatureIds()).sort()).toEqual(Array.from({ length: 200 }, (_, i) => `sig-${i}`).sort())
  })

  it('sends the next batch to the writer before answering the callers of the one that committed', async () => {
    const committer = groupCommitterOf(handle)
    const write = committer.writer.write.bind(committer.writer)
    const events: string[] = []
    vi.spyOn(committer.writer, 'write').mockImplementation((batch) => {
      events.push(`write ${batch.map((b) => (JSON.parse(b.data) as { i: number }).i).join(',')}`)
      return write(batch)
    })
    const item = (i: number) => ({
      type: 'test.append',
      data: JSON.stringify({ i }),
      requires: [],
      writes: [],
    })
    // The committer's own promise, as the caller's code sees it settle.
    const first = committer.append(item(0)).then(() => {
      events.push('answered 0')
    })
    await turnsUntil(() => events.length > 0)
    // Queued while the first batch is being written: the next batch.
    const second = committer.append(item(1))
    await Promise.all([first, second])
    expect(events).toEqual(['write 0', 'write 1', 'answered 0'])
  })

  it('fails the batch, not the committer, when the writer cannot even start', async () => {
    const committer = groupCommitterOf(handle)
    const write = vi.spyOn(committer.writer, 'write').mockImplementation(() => {
      throw new Error('no thread to be had')
    })
    const refused = await Promise.allSettled([
      appendAuditEntry(handle, { type: 'test.append', data: { i: 0 } }),
      appendAuditEntry(handle, { type: 'test.append', data: { i: 1 } }),
    ])
    expect(refused.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ message: 'no thread to be had' })
    write.mockRestore()
    expect(await appendAuditEntry(handle, { type: 'test.append', data: { i: 2 } })).toMatchObject({ id: 1 })
  })

  it('fails only the entry at fault: its batch-mates commit, nothing of it does', async () => {
    await record('taken')(handle.db).execute()
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        appendAuditEntry(
          handle,
          { type: 'test.append', data: { i } },
          // Entry 17's record collides with an existing row (a real constraint failure).
          { writes: [record(i === 17 ? 'taken' : `sig-${i}`)(handle.db)] },
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

  it('leaves out only the entries whose precondition finds nothing, with the code they asked for', async () => {
    // Entries 5 and 12 name a key that is no longer current (the check sign.ts makes).
    await handle.db.updateTable('signing_keys').set({ retired_at: new Date().toISOString() }).execute()
    await handle.db
      .insertInto('signing_keys')
      .values({
        key_id: 'current',
        public_key: 'x',
        private_key_encrypted: 'x',
        created_at: new Date().toISOString(),
        retired_at: null,
        revoked_at: null,
        revocation_reason: null,
      })
      .execute()
    const current = (keyId: string) => ({
      query: handle.db
        .selectFrom('signing_keys')
        .select('key_id')
        .where('key_id', '=', keyId)
        .where('retired_at', 'is', null),
      code: 'ERR_TEST_KEY',
      message: `${keyId} is not current`,
    })
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        appendAuditEntry(
          handle,
          { type: 'test.append', data: { i } },
          {
            requires: [current(i === 5 || i === 12 ? 'k' : 'current')],
            writes: [record(`sig-${i}`)(handle.db)],
          },
        ),
      ),
    )
    for (const [i, r] of results.entries()) {
      if (i === 5 || i === 12) {
        expect(r.status).toBe('rejected')
        const reason = (r as PromiseRejectedResult).reason
        expect(reason).toBeInstanceOf(AuditPreconditionFailed)
        expect(reason).toMatchObject({ code: 'ERR_TEST_KEY', message: 'k is not current' })
      } else expect(r.status).toBe('fulfilled')
    }
    // Nothing of the refused entries was written; the rest in call order, ids without a gap.
    const rows = await handle.db.selectFrom('audit_entries').select(['id', 'data']).orderBy('id').execute()
    expect(rows.map((r) => (JSON.parse(r.data) as { i: number }).i)).toEqual(
      Array.from({ length: 20 }, (_, i) => i).filter((i) => i !== 5 && i !== 12),
    )
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 18 }, (_, i) => i + 1))
    expect((await signatureIds()).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `sig-${i}`)
        .filter((s) => s !== 'sig-5' && s !== 'sig-12')
        .sort(),
    )
    expect(await verifyAuditChain(handle)).toMatchObject({ valid: true, entries: 18 })
  })

  it.runIf(kind === 'sqlite')(
    'keeps the event loop running while a batch waits to commit, and answers only after the commit',
    async () => {
      // Another connection holds the write lock, as another service's commit would:
      // the batch waits for it in the writer thread, not on this thread.
      const other = new SQLite(database.url)
      other.exec('begin immediate')
      let settled = false
      const appended = appendAuditEntry(handle, { type: 'test.append', data: { i: 0 } }).finally(() => {
        settled = true
      })
      const writer = groupCommitterOf(handle).writer as SqliteWriterThread
      await turnsUntil(() => writer.busy)
      // This thread goes on turning while the batch waits: on the handle's own
      // (synchronous) connection nothing would run until the busy timeout failed it.
      for (let i = 0; i < 50; i++) await nextTurn()
      expect(settled).toBe(false)
      other.exec('commit')
      other.close()
      const entry = await appended
      expect(
        await handle.db
          .selectFrom('audit_entries')
          .select('hash')
          .where('id', '=', entry.id)
          .executeTakeFirst(),
      ).toEqual({
        hash: entry.hash,
      })
    },
  )

  it.runIf(kind === 'sqlite')(
    'fails the batch of a writer thread that dies with a 503, never hangs, and writes the next one',
    async () => {
      const other = new SQLite(database.url)
      other.exec('begin immediate')
      const writer = groupCommitterOf(handle).writer as SqliteWriterThread
      const first = Array.from({ length: 20 }, (_, i) =>
        appendAuditEntry(
          handle,
          { type: 'test.append', data: { i } },
          { writes: [record(`sig-${i}`)(handle.db)] },
        ),
      )
      await turnsUntil(() => writer.busy)
      // Queued behind the batch in flight when the thread dies.
      const later = Array.from({ length: 5 }, (_, i) =>
        appendAuditEntry(handle, { type: 'test.append', data: { i: 100 + i } }),
      )
      // The thread dies mid-batch (it is waiting for the lock inside its transaction).
      const died = writer.terminate()
      other.exec('rollback')
      other.close()
      await died
      const results = await Promise.allSettled(first)
      for (const r of results) {
        expect(r.status).toBe('rejected')
        expect((r as PromiseRejectedResult).reason).toMatchObject({
          statusCode: 503,
          code: 'ERR_AUDIT_UNAVAILABLE',
        })
      }
      // What was queued goes to a new thread; so does what comes after.
      const written = await Promise.all(later)
      const next = await appendAuditEntry(handle, { type: 'test.append', data: { i: 200 } })
      expect(next.id).toBe((written.at(-1)?.id ?? 0) + 1)
      const chain = await verifyAuditChain(handle)
      expect(chain).toMatchObject({ valid: true, head: { id: next.id } })
      // The dead batch left nothing behind: no entry of it, no record of it.
      const rows = await handle.db.selectFrom('audit_entries').select('data').execute()
      expect(rows.map((r) => (JSON.parse(r.data) as { i: number }).i).sort((a, b) => a - b)).toEqual([
        100, 101, 102, 103, 104, 200,
      ])
      expect(await signatureIds()).toEqual([])
    },
  )

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
    // And the chain holds whole batches only: ids 1..n, no gap, no torn tail,
    // and each entry with the record it audits, no record without its entry.
    expect(rows.map((r) => r.id).sort((a, b) => a - b)).toEqual(
      Array.from({ length: rows.length }, (_, i) => i + 1),
    )
    const audited = rows.map((r) => (JSON.parse(r.data) as { signature_id: string }).signature_id)
    expect((await signatureIds()).sort()).toEqual(audited.sort())
  }, 60_000)
})
