// The witness and the checkpoints it signs, against what a database writer
// can do: cut the chain's tail, point a checkpoint at a key nobody knows,
// change a signature, revoke the key, delete or reorder checkpoints, rewrite
// the chain with every hash recomputed and delete the checkpoints too.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  appendAuditEntry,
  checkpointMessage,
  entryHashV2,
  type ServiceApp,
  verifyAudit,
  verifyCheckpoints,
} from '@docs-mesh/platform'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '@docs-mesh/platform/testing'
import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

const POLICY = { maxAgeSeconds: 900, maxEntriesBehind: 100 }

describe.each(testDatabaseKinds(process.env))('the audit witness on %s', (kind) => {
  let database: TestDatabase
  let app: ServiceApp
  let witnessDir: string
  const build = () =>
    buildApp(
      loadServiceConfig({
        DATABASE_URL: database.url,
        KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
        CHECKPOINT_INTERVAL_SECONDS: '0',
        WITNESS_FILE: join(witnessDir, 'witness.json'),
      }),
      { logger: false },
    )

  beforeEach(async () => {
    database = await createTestDatabase(kind, process.env)
    witnessDir = mkdtempSync(join(tmpdir(), 'docs-mesh-witness-'))
    app = await build()
  })
  afterEach(async () => {
    await app.close()
    await database.drop()
    rmSync(witnessDir, { recursive: true, force: true })
  })

  const append = async (n: number) => {
    for (let i = 0; i < n; i++) await appendAuditEntry(app.database, { type: 'test.entry', data: { i } })
  }
  const problems = async () => (await verifyCheckpoints(app.database)).problems.map((p) => p.problem)
  /** What a database owner can do and the services' roles cannot: change rows the foreign keys protect. */
  const withoutForeignKeys = async (statement: string) => {
    if (database.kind === 'postgres') {
      await app.database.db.transaction().execute(async (trx) => {
        await sql`set local session_replication_role = replica`.execute(trx)
        await sql.raw(statement).execute(trx)
      })
    } else {
      await sql`pragma foreign_keys = off`.execute(app.database.db)
      await sql.raw(statement).execute(app.database.db)
      await sql`pragma foreign_keys = on`.execute(app.database.db)
    }
  }

  it('signs a fresh, numbered checkpoint every round, even when the head has not moved', async () => {
    await append(2)
    const first = await app.witness.checkpoint()
    const second = await app.witness.checkpoint()
    expect(first).toMatchObject({ sequence: 1 })
    expect(second).toMatchObject({ sequence: 2, entry_id: first!.entry_id, entry_hash: first!.entry_hash })
    expect(await verifyCheckpoints(app.database)).toMatchObject({
      valid: true,
      checkpoints: 2,
      latest: { sequence: 2, entry_id: first!.entry_id },
    })
    expect((await verifyAudit(app.database, POLICY)).valid).toBe(true)
  })

  it('signs a first checkpoint as soon as a fresh chain has entries, and only then', async () => {
    await append(1)
    expect(await app.witness.firstIfNone()).toMatchObject({ sequence: 1 })
    await append(1)
    expect(await app.witness.firstIfNone()).toBeNull()
  })

  it('reports a cut-off tail: entries deleted up to a checkpoint', async () => {
    await append(5)
    await app.witness.checkpoint()
    await sql`delete from audit_entries where id > 3`.execute(app.database.db)
    expect(await problems()).toEqual(['entry_missing'])
    const verdict = await verifyAudit(app.database, POLICY)
    expect(verdict).toMatchObject({ valid: false, chain: { valid: true, entries: 3 } })
    await expect(app.witness.checkpoint()).rejects.toMatchObject({ code: 'ERR_WITNESS_MISMATCH' })
  })

  it('reports a checkpoint signed by a key nobody knows', async () => {
    await append(1)
    await app.witness.checkpoint()
    await withoutForeignKeys("update audit_checkpoints set key_id = 'platform-nobody'")
    expect(await problems()).toEqual(['unknown_key'])
  })

  it('reports a checkpoint whose signature does not verify', async () => {
    await append(2)
    const checkpoint = await app.witness.checkpoint()
    // A real signature of the same key, over another message: only the signature check can tell.
    const other = await app.signingKeys.signBytes(Buffer.from('something else'))
    await app.database.db
      .updateTable('audit_checkpoints')
      .set({ signature: other.signature })
      .where('id', '=', checkpoint!.id)
      .execute()
    expect(await problems()).toEqual(['bad_signature'])
  })

  it('reports a checkpoint signed with a key revoked before it signed', async () => {
    await append(1)
    const checkpoint = await app.witness.checkpoint()
    await app.database.db
      .updateTable('signing_keys')
      .set({ revoked_at: new Date(Date.parse(checkpoint!.signed_at) - 1000).toISOString() })
      .where('key_id', '=', checkpoint!.key_id)
      .execute()
    expect(await problems()).toEqual(['revoked_key'])
  })

  it('reports a deleted checkpoint as a gap in the sequence', async () => {
    await append(1)
    await app.witness.checkpoint()
    await append(1)
    const middle = await app.witness.checkpoint()
    await append(1)
    await app.witness.checkpoint()
    await app.database.db.deleteFrom('audit_checkpoints').where('id', '=', middle!.id).execute()
    expect(await problems()).toEqual(['sequence_gap'])
  })

  it('reports checkpoints whose signed order does not follow the chain', async () => {
    await append(3)
    // Two genuine signatures, the later-numbered one over an earlier entry.
    const row = async (sequence: number, entryId: number) => {
      const entry = await app.database.db
        .selectFrom('audit_entries')
        .select('hash')
        .where('id', '=', entryId)
        .executeTakeFirstOrThrow()
      const signedAt = new Date(Date.now() + sequence).toISOString()
      const { keyId, signature } = await app.signingKeys.signBytes(
        checkpointMessage(sequence, entryId, entry.hash, signedAt),
      )
      return {
        id: randomUUID(),
        sequence,
        entry_id: entryId,
        entry_hash: entry.hash,
        key_id: keyId,
        signature,
        signed_at: signedAt,
      }
    }
    await app.database.db
      .insertInto('audit_checkpoints')
      .values([await row(1, 3), await row(2, 1)])
      .execute()
    expect(await problems()).toEqual(['out_of_order'])
  })

  it('refuses to countersign a rewritten chain whose checkpoints were deleted, and the verdict fails', async () => {
    await append(4)
    await app.witness.checkpoint()
    expect((await verifyAudit(app.database, POLICY)).valid).toBe(true)

    // The database writer's attack: change entry 2, recompute every hash after it, drop the checkpoints.
    const rows = await app.database.db.selectFrom('audit_entries').selectAll().orderBy('id').execute()
    let prev = rows[0]!.hash
    for (const row of rows.slice(1)) {
      const data = row.id === 2 ? '{"forged":true}' : row.data
      const hash = entryHashV2(prev, row.type, data, row.created_at)
      await app.database.db
        .updateTable('audit_entries')
        .set({ data, prev_hash: prev, hash })
        .where('id', '=', row.id)
        .execute()
      prev = hash
    }
    await app.database.db.deleteFrom('audit_checkpoints').execute()

    const verdict = await verifyAudit(app.database, POLICY)
    expect(verdict).toMatchObject({
      valid: false,
      chain: { valid: true },
      checkpoints: { valid: true, checkpoints: 0 },
      coverage: { valid: false, problem: 'no_checkpoint' },
    })
    // The witness's own file still names the entry it signed: it will not sign the forgery.
    await expect(app.witness.checkpoint()).rejects.toMatchObject({ code: 'ERR_WITNESS_MISMATCH' })
    expect(await verifyCheckpoints(app.database)).toMatchObject({ checkpoints: 0 })
  })

  it('stops rather than start over when its witness file is garbled', async () => {
    await append(1)
    writeFileSync(join(witnessDir, 'witness.json'), '{"sequence":"one"}')
    await expect(app.witness.checkpoint()).rejects.toMatchObject({ code: 'ERR_WITNESS_FILE' })
  })
})
