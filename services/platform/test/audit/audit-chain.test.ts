import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { appendAuditEntry } from '../../src/audit/append-entry.ts'
import { entryHashV1, entryHashV2, GENESIS_HASH } from '../../src/audit/entry-hash.ts'
import { verifyAuditChain } from '../../src/audit/verify-chain.ts'
import { connectDatabase, type DatabaseHandle } from '../../src/db/connect.ts'
import { migrateGroup } from '../../src/db/migrate.ts'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '../../src/testing/test-databases.ts'

const run = promisify(execFile)
const worker = fileURLToPath(new URL('../fixtures/append-worker.ts', import.meta.url))

describe.each(testDatabaseKinds(process.env))('audit chain on %s', (kind) => {
  let database: TestDatabase
  let handle: DatabaseHandle

  beforeEach(async () => {
    database = await createTestDatabase(kind, process.env)
    handle = connectDatabase(database.url)
    await migrateGroup(handle, 'audit')
  })
  afterEach(async () => {
    await handle.close()
    await database.drop()
  })

  it('links each entry to the one before, from the genesis hash', async () => {
    const first = await appendAuditEntry(handle, { type: 'bucket.create', data: { bucket: 'b1', size: 10 } })
    const second = await appendAuditEntry(handle, { type: 'bucket.claim', data: { bucket: 'b1' } })
    expect(first).toMatchObject({ id: 1, prev_hash: GENESIS_HASH })
    expect(first.hash).toBe(
      entryHashV2(GENESIS_HASH, 'bucket.create', '{"bucket":"b1","size":10}', first.created_at),
    )
    expect(first.version).toBe(2)
    expect(second).toMatchObject({ id: 2, prev_hash: first.hash })
    expect(await verifyAuditChain(handle)).toEqual({
      valid: true,
      entries: 2,
      head: { id: 2, hash: second.hash },
      first_broken_id: null,
      breaks: [],
    })
  })

  it('hashes the same payload the same whatever its key order', async () => {
    const a = await appendAuditEntry(handle, { type: 't', data: { b: 1, a: { d: 2, c: 3 } } })
    expect(a.data).toBe('{"a":{"c":3,"d":2},"b":1}')
  })

  it('reports a changed row with its entry id', async () => {
    for (let i = 0; i < 5; i++)
      await appendAuditEntry(handle, { type: 'user.sign_in', data: { user: `u${i}` } })
    await handle.db
      .updateTable('audit_entries')
      .set({ data: '{"user":"mallory"}' })
      .where('id', '=', 3)
      .execute()
    const result = await verifyAuditChain(handle)
    expect(result.valid).toBe(false)
    expect(result.first_broken_id).toBe(3)
    expect(result.breaks).toEqual([{ id: 3, reason: 'hash_mismatch' }])
  })

  it('reports a row rewritten with a fresh hash where the next link breaks', async () => {
    for (let i = 0; i < 4; i++)
      await appendAuditEntry(handle, { type: 'user.sign_in', data: { user: `u${i}` } })
    const row = await handle.db
      .selectFrom('audit_entries')
      .selectAll()
      .where('id', '=', 2)
      .executeTakeFirstOrThrow()
    const forged = entryHashV2(row.prev_hash, row.type, '{"user":"mallory"}', row.created_at)
    await handle.db
      .updateTable('audit_entries')
      .set({ data: '{"user":"mallory"}', hash: forged })
      .where('id', '=', 2)
      .execute()
    const result = await verifyAuditChain(handle)
    expect(result.first_broken_id).toBe(3)
    expect(result.breaks).toEqual([{ id: 3, reason: 'prev_hash_mismatch' }])
  })

  it('reports a deleted row', async () => {
    for (let i = 0; i < 4; i++)
      await appendAuditEntry(handle, { type: 'user.sign_in', data: { user: `u${i}` } })
    await sql`delete from audit_entries where id = 2`.execute(handle.db)
    const result = await verifyAuditChain(handle)
    expect(result.valid).toBe(false)
    expect(result.first_broken_id).toBe(3)
    // The gap and the link that no longer points at its predecessor, both at the entry after the hole.
    expect(result.breaks).toEqual([
      { id: 3, reason: 'id_gap' },
      { id: 3, reason: 'prev_hash_mismatch' },
    ])
  })

  it('hashes entries with an encoding where moving bytes between fields changes the hash', () => {
    // Under v1 (`prev|type|data|ts`) these two different entries hash the same.
    const a = [GENESIS_HASH, 'user.sign_in', '{"a":1}|2026', '01-01'] as const
    const b = [GENESIS_HASH, 'user.sign_in', '{"a":1}', '2026|01-01'] as const
    expect(entryHashV1(...a)).toBe(entryHashV1(...b))
    expect(entryHashV2(...a)).not.toBe(entryHashV2(...b))
  })

  it('still verifies a chain written with v1 hashes that goes on in v2', async () => {
    // Two entries as the first release wrote them (version 1), then new appends.
    let prev = GENESIS_HASH
    for (const id of [1, 2]) {
      const created_at = new Date().toISOString()
      const data = `{"old":${id}}`
      const hash = entryHashV1(prev, 'legacy.entry', data, created_at)
      await handle.db
        .insertInto('audit_entries')
        .values({ id, type: 'legacy.entry', data, created_at, prev_hash: prev, hash, version: 1 })
        .execute()
      prev = hash
    }
    const third = await appendAuditEntry(handle, { type: 'user.sign_in', data: { user: 'u' } })
    expect(third).toMatchObject({ id: 3, prev_hash: prev, version: 2 })
    expect(await verifyAuditChain(handle)).toMatchObject({ valid: true, entries: 3 })

    // Relabelling a later v2 entry as v1 (with a valid v1 hash) is a downgrade, reported where it happens.
    const fourth = await appendAuditEntry(handle, { type: 'user.sign_in', data: { user: 'v' } })
    await handle.db
      .updateTable('audit_entries')
      .set({ version: 1, hash: entryHashV1(fourth.prev_hash, fourth.type, fourth.data, fourth.created_at) })
      .where('id', '=', 4)
      .execute()
    const downgraded = await verifyAuditChain(handle)
    expect(downgraded.valid).toBe(false)
    expect(downgraded.breaks).toEqual([{ id: 4, reason: 'version_downgrade' }])
    await handle.db.updateTable('audit_entries').set({ version: 7 }).where('id', '=', 4).execute()
    expect((await verifyAuditChain(handle)).breaks).toContainEqual({ id: 4, reason: 'unknown_version' })
  })

  it('refuses an entry type that is not a dotted name', async () => {
    await expect(appendAuditEntry(handle, { type: 'Bad Type', data: {} })).rejects.toMatchObject({
      code: 'ERR_AUDIT_TYPE',
    })
    expect((await verifyAuditChain(handle)).entries).toBe(0)
  })

  it('keeps one unbroken chain when 4 processes append 250 entries each', async () => {
    await Promise.all(
      [0, 1, 2, 3].map((w) =>
        run(process.execPath, [
          '--disable-warning=ExperimentalWarning',
          worker,
          database.url,
          '250',
          String(w),
        ]),
      ),
    )
    const result = await verifyAuditChain(handle)
    expect(result).toMatchObject({ valid: true, entries: 1000, head: { id: 1000 } })
    const perWorker = await handle.db
      .selectFrom('audit_entries')
      .select(['data'])
      .execute()
      .then((rows) => rows.map((r) => (JSON.parse(r.data) as { worker: number }).worker))
    for (const w of [0, 1, 2, 3]) expect(perWorker.filter((x) => x === w)).toHaveLength(250)
  }, 120_000)
})
