import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import {
  appendAuditEntry,
  connectDatabase,
  entryHashV2,
  type ServiceApp,
  verifyAuditChain,
  verifyCheckpoints,
} from '@docs-mesh/platform'
import {
  auditWriterThreadOf,
  createTestDatabase,
  type TestDatabase,
  testDatabaseKinds,
} from '@docs-mesh/platform/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

const SELF = 'spiffe://cluster.local/ns/docs/sa/signing-sa'
const from = (sa: string) => ({
  'x-forwarded-client-cert': `By=${SELF};Hash=00;Subject="";URI=spiffe://cluster.local/ns/docs/sa/${sa}`,
})
const digest = (text: string) => createHash('sha256').update(text).digest('hex')

describe.each(testDatabaseKinds(process.env))('signing-api on %s', (kind) => {
  let database: TestDatabase
  let app: ServiceApp
  let witnessDir: string
  const kek = randomBytes(32).toString('base64url')
  const build = (env: Record<string, string> = {}) =>
    buildApp(
      loadServiceConfig({
        DATABASE_URL: database.url,
        KEY_ENCRYPTION_KEY: kek,
        CHECKPOINT_INTERVAL_SECONDS: '0',
        WITNESS_FILE: join(witnessDir, 'witness.json'),
        MESH_SIDECAR: 'true',
        ...env,
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

  const sign = (body: unknown, caller = 'bucket-sa') =>
    app.inject({ method: 'POST', url: '/sign', headers: from(caller), payload: body as object })
  const publicKey = async (keyId: string) => {
    const row = await app.database.db
      .selectFrom('signing_keys')
      .selectAll()
      .where('key_id', '=', keyId)
      .executeTakeFirstOrThrow()
    return {
      row,
      key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: row.public_key }, format: 'jwk' }),
    }
  }

  it('signs a digest with the platform key, records it and audits it', async () => {
    const sha256 = digest('hello')
    const res = await sign({ sha256, purpose: 'upload_receipt', subject_id: 'bucket-1', user_id: 'user-1' })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body).toEqual({
      signature_id: expect.any(String),
      signature: expect.any(String),
      key_id: expect.stringMatching(/^platform-/),
      signed_at: expect.any(String),
    })
    const { key } = await publicKey(body.key_id)
    expect(verify(null, Buffer.from(sha256, 'hex'), key, Buffer.from(body.signature, 'base64url'))).toBe(true)
    expect(
      verify(null, Buffer.from(digest('other'), 'hex'), key, Buffer.from(body.signature, 'base64url')),
    ).toBe(false)
    const record = await app.database.db
      .selectFrom('signatures')
      .selectAll()
      .where('signature_id', '=', body.signature_id)
      .executeTakeFirstOrThrow()
    expect(record).toMatchObject({
      sha256,
      purpose: 'upload_receipt',
      subject_id: 'bucket-1',
      user_id: 'user-1',
      caller: 'cluster.local/ns/docs/sa/bucket-sa',
    })
    const audit = await app.database.db
      .selectFrom('audit_entries')
      .select(['type', 'data'])
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow()
    expect(audit.type).toBe('signature.create')
    expect(JSON.parse(audit.data)).toMatchObject({
      signature_id: body.signature_id,
      caller: 'cluster.local/ns/docs/sa/bucket-sa',
    })
  })

  it('keeps the private key sealed at rest', async () => {
    const res = await sign(
      { sha256: digest('x'), purpose: 'key_attestation', subject_id: 'k1' },
      'identity-sa',
    )
    const { row } = await publicKey(res.json().key_id)
    expect(row.private_key_encrypted).toMatch(/^v1\./)
    expect(row.private_key_encrypted).not.toContain(row.public_key)
  })

  it.each([
    [{ sha256: 'abc', purpose: 'upload_receipt', subject_id: 's' }, 'short digest'],
    [{ sha256: digest('x').toUpperCase(), purpose: 'upload_receipt', subject_id: 's' }, 'upper-case hex'],
    [{ sha256: digest('x'), purpose: 'anything', subject_id: 's' }, 'unknown purpose'],
    [{ sha256: digest('x'), purpose: 'upload_receipt' }, 'no subject'],
    [{ sha256: digest('x'), purpose: 'upload_receipt', subject_id: 's', extra: 1 }, 'an unknown field'],
  ])('refuses %j (%s) with a 400 problem', async (body, _why) => {
    const res = await sign(body)
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/problem\+json/)
    expect(res.json().code).toBe('ERR_VALIDATION')
  })

  it('signs only for bucket-api and identity-api, whatever the mesh let through', async () => {
    const body = { sha256: digest('x'), purpose: 'upload_receipt', subject_id: 's' }
    expect((await sign(body, 'admin-sa')).json().code).toBe('ERR_CALLER_FORBIDDEN')
    const none = await app.inject({ method: 'POST', url: '/sign', payload: body })
    expect(none.statusCode).toBe(403)
    expect(none.json().code).toBe('ERR_CALLER_MISSING')
    expect(await app.database.db.selectFrom('signatures').selectAll().execute()).toEqual([])
  })

  it('signs for each caller its own purpose only, and records who asked', async () => {
    const receipt = { sha256: digest('r'), purpose: 'upload_receipt', subject_id: 'b1' }
    const attestation = { sha256: digest('k'), purpose: 'key_attestation', subject_id: 'k1' }
    for (const [body, caller] of [
      [attestation, 'bucket-sa'],
      [receipt, 'identity-sa'],
    ] as const) {
      const res = await sign(body, caller)
      expect(res.statusCode).toBe(403)
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(res.json().code).toBe('ERR_PURPOSE_FORBIDDEN')
    }
    expect(await app.database.db.selectFrom('signatures').selectAll().execute()).toEqual([])
    expect((await sign(receipt, 'bucket-sa')).statusCode).toBe(200)
    expect((await sign(attestation, 'identity-sa')).statusCode).toBe(200)
    const recorded = await app.database.db
      .selectFrom('signatures')
      .select(['purpose', 'caller'])
      .orderBy('purpose')
      .execute()
    expect(recorded).toEqual([
      { purpose: 'key_attestation', caller: 'cluster.local/ns/docs/sa/identity-sa' },
      { purpose: 'upload_receipt', caller: 'cluster.local/ns/docs/sa/bucket-sa' },
    ])
  })

  it('rotates a key past its maximum age and still verifies what the old key signed', async () => {
    const first = (await sign({ sha256: digest('a'), purpose: 'upload_receipt', subject_id: 's' })).json()
    await app.database.db
      .updateTable('signing_keys')
      .set({ created_at: new Date(Date.now() - 91 * 24 * 3600_000).toISOString() })
      .execute()
    const second = (await sign({ sha256: digest('b'), purpose: 'upload_receipt', subject_id: 's' })).json()
    expect(second.key_id).not.toBe(first.key_id)
    const old = await publicKey(first.key_id)
    expect(old.row.retired_at).not.toBeNull()
    expect(
      verify(null, Buffer.from(digest('a'), 'hex'), old.key, Buffer.from(first.signature, 'base64url')),
    ).toBe(true)
  })

  it('never signs with a revoked key', async () => {
    const first = (await sign({ sha256: digest('a'), purpose: 'upload_receipt', subject_id: 's' })).json()
    await app.database.db
      .updateTable('signing_keys')
      .set({ revoked_at: new Date().toISOString(), revocation_reason: 'test' })
      .where('key_id', '=', first.key_id)
      .execute()
    const second = (await sign({ sha256: digest('b'), purpose: 'upload_receipt', subject_id: 's' })).json()
    expect(second.key_id).not.toBe(first.key_id)
  })

  it('answers signatures made together only once each record and its audit entry committed, as one verifiable chain', async () => {
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        sign({ sha256: digest(`doc ${i}`), purpose: 'upload_receipt', subject_id: `bucket-${i}` }),
      ),
    )
    expect(responses.map((r) => r.statusCode)).toEqual(Array(40).fill(200))
    const ids = responses.map((r) => r.json().signature_id as string)
    const records = await app.database.db
      .selectFrom('signatures')
      .select(['signature_id', 'subject_id'])
      .where('signature_id', 'in', ids)
      .execute()
    expect(records).toHaveLength(40)
    const audited = (
      await app.database.db
        .selectFrom('audit_entries')
        .select('data')
        .where('type', '=', 'signature.create')
        .execute()
    ).map((r) => (JSON.parse(r.data) as { signature_id: string }).signature_id)
    expect(audited.sort()).toEqual([...ids].sort())
    // The witness countersigns the batched chain, and the whole trail verifies.
    await app.witness.checkpoint()
    expect((await verifyAuditChain(app.database)).valid).toBe(true)
    expect(await verifyCheckpoints(app.database)).toMatchObject({ valid: true, problems: [] })
  })

  it('records no signature by a key revoked while the request was in flight, and signs it again with a new key', async () => {
    const first = (await sign({ sha256: digest('a'), purpose: 'upload_receipt', subject_id: 's' })).json()
    // Revoked after the key was loaded into memory: the next requests sign with it before the
    // database says no, so only the check in their transaction can catch it.
    await app.database.db
      .updateTable('signing_keys')
      .set({ revoked_at: new Date().toISOString(), revocation_reason: 'test' })
      .where('key_id', '=', first.key_id)
      .execute()
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        sign({ sha256: digest(`b${i}`), purpose: 'upload_receipt', subject_id: 's' }),
      ),
    )
    const keyIds = new Set(responses.map((r) => r.json().key_id as string))
    expect(responses.map((r) => r.statusCode)).toEqual(Array(10).fill(200))
    expect(keyIds.size).toBe(1)
    expect(keyIds.has(first.key_id)).toBe(false)
    const byRevoked = await app.database.db
      .selectFrom('signatures')
      .select('signature_id')
      .where('key_id', '=', first.key_id)
      .execute()
    expect(byRevoked.map((r) => r.signature_id)).toEqual([first.signature_id])
    expect((await verifyAuditChain(app.database)).valid).toBe(true)
  })

  it.runIf(kind === 'sqlite')(
    'answers 503 problem+json when the audit writer dies mid-batch, records none of that batch, and signs the next',
    async () => {
      await sign({ sha256: digest('warm'), purpose: 'upload_receipt', subject_id: 's' })
      const writer = auditWriterThreadOf(app.database)
      if (!writer) throw new Error('no writer thread on SQLite')
      // Another connection holds the write lock (BEGIN IMMEDIATE), so the batch is in the thread's transaction when it dies.
      const other = connectDatabase(database.url)
      let release = () => {}
      const released = new Promise<void>((resolve) => {
        release = resolve
      })
      let locked = () => {}
      const holding = new Promise<void>((resolve) => {
        locked = resolve
      })
      const lock = other.db.transaction().execute(async (trx) => {
        await trx.selectFrom('signing_keys').select('key_id').execute()
        locked()
        await released
      })
      await holding
      const pending = Array.from({ length: 8 }, (_, i) =>
        sign({ sha256: digest(`c${i}`), purpose: 'upload_receipt', subject_id: `crash-${i}` }),
      )
      for (let i = 0; i < 10_000 && !writer.busy; i++) await nextTurn()
      expect(writer.busy).toBe(true)
      const died = writer.terminate()
      release()
      await lock
      await other.close()
      await died
      const responses = await Promise.all(pending)
      for (const r of responses) {
        expect(r.statusCode).toBe(503)
        expect(r.headers['content-type']).toMatch(/^application\/problem\+json/)
        expect(r.json()).toMatchObject({ status: 503, code: 'ERR_AUDIT_UNAVAILABLE' })
      }
      const crashed = await app.database.db
        .selectFrom('signatures')
        .select('signature_id')
        .where('subject_id', 'like', 'crash-%')
        .execute()
      expect(crashed).toEqual([])
      const next = await sign({ sha256: digest('after'), purpose: 'upload_receipt', subject_id: 's' })
      expect(next.statusCode).toBe(200)
      expect((await verifyAuditChain(app.database)).valid).toBe(true)
    },
  )

  it('refuses to start with a key-encryption key that does not open its keys', async () => {
    await expect(build({ KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') })).rejects.toMatchObject({
      code: 'ERR_KEY_ENCRYPTION',
    })
  })

  it('countersigns the chain head, and a rewritten chain no longer matches the checkpoint', async () => {
    for (let i = 0; i < 3; i++) await appendAuditEntry(app.database, { type: 'test.entry', data: { i } })
    const checkpoint = await app.witness.checkpoint()
    expect(checkpoint).toMatchObject({
      entry_id: expect.any(Number),
      key_id: expect.stringMatching(/^platform-/),
    })
    expect(await verifyCheckpoints(app.database)).toMatchObject({ valid: true, checkpoints: 1, problems: [] })

    // Rewrite entry 2 and recompute every hash after it: the chain alone looks valid again.
    const rows = await app.database.db.selectFrom('audit_entries').selectAll().orderBy('id').execute()
    let prev = rows[0]?.hash as string
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
    expect((await verifyAuditChain(app.database)).valid).toBe(true)
    expect(await verifyCheckpoints(app.database)).toMatchObject({
      valid: false,
      problems: [{ entry_id: checkpoint?.entry_id, problem: 'hash_mismatch' }],
    })
  })
})
