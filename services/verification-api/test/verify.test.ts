import { createHash, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { keyAttestationDigest, migrateGroup, type ServiceApp, type UserKeyTable } from '@docs-mesh/platform'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

describe.each(testDatabaseKinds(process.env))('verification-api on %s', (kind) => {
  let database: TestDatabase
  let app: ServiceApp
  const keys: Record<string, { privateKey: KeyObject; x: string }> = {}
  const sha256 = createHash('sha256').update('a document').digest('hex')

  beforeAll(async () => {
    database = await createTestDatabase(kind, process.env)
    app = await buildApp(loadServiceConfig({ DATABASE_URL: database.url }), { logger: false })
    await migrateGroup(app.database, 'audit')
    await migrateGroup(app.database, 'signing')
    await migrateGroup(app.database, 'identity')
    const now = new Date().toISOString()
    for (const [keyId, status] of [
      ['platform-active', 'active'],
      ['platform-retired', 'retired'],
      ['platform-revoked', 'revoked'],
    ] as const) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      const x = publicKey.export({ format: 'jwk' }).x as string
      keys[keyId] = { privateKey, x }
      await app.database.db
        .insertInto('signing_keys')
        .values({
          key_id: keyId,
          public_key: x,
          private_key_encrypted: 'sealed elsewhere',
          created_at: now,
          retired_at: status === 'retired' ? now : null,
          revoked_at: status === 'revoked' ? '2026-11-01T00:00:00.000Z' : null,
          revocation_reason: status === 'revoked' ? 'compromised' : null,
        })
        .execute()
    }
  })
  afterAll(async () => {
    await app.close()
    await database.drop()
  })

  const signWith = (keyId: string, digest = sha256) =>
    sign(null, Buffer.from(digest, 'hex'), keys[keyId]?.privateKey as KeyObject)
  const check = (body: object) =>
    app
      .inject({ method: 'POST', url: '/verify', payload: body })
      .then((r) => ({ status: r.statusCode, body: r.json() }))

  it('says a good signature is valid and trusted, in base64url or base64', async () => {
    const sig = signWith('platform-active')
    expect(await check({ sha256, signature: sig.toString('base64url'), key_id: 'platform-active' })).toEqual({
      status: 200,
      body: { valid: true, trusted: true, reason: 'valid', key_owner: 'platform' },
    })
    expect(
      (
        await check({
          sha256: sha256.toUpperCase(),
          signature: sig.toString('base64'),
          key_id: 'platform-active',
        })
      ).body.reason,
    ).toBe('valid')
  })

  it('still verifies under a retired key', async () => {
    const sig = signWith('platform-retired').toString('base64url')
    expect((await check({ sha256, signature: sig, key_id: 'platform-retired' })).body).toEqual({
      valid: true,
      trusted: true,
      reason: 'valid',
      key_owner: 'platform',
    })
  })

  it('gives a distinct reason for each failure', async () => {
    const sig = signWith('platform-active').toString('base64url')
    const other = createHash('sha256').update('another document').digest('hex')
    expect((await check({ sha256: other, signature: sig, key_id: 'platform-active' })).body).toEqual({
      valid: false,
      trusted: false,
      reason: 'mismatch',
      key_owner: 'platform',
    })
    expect((await check({ sha256, signature: sig, key_id: 'platform-retired' })).body.reason).toBe('mismatch')
    expect((await check({ sha256, signature: sig, key_id: 'nobody' })).body.reason).toBe('unknown_key')
    expect((await check({ sha256: 'xyz', signature: sig, key_id: 'platform-active' })).body.reason).toBe(
      'bad_hex',
    )
    expect((await check({ sha256, signature: 'not base64!', key_id: 'platform-active' })).body.reason).toBe(
      'bad_base64',
    )
    expect((await check({ sha256, signature: 'AAAA', key_id: 'platform-active' })).body.reason).toBe(
      'bad_base64',
    )
  })

  it('says when a key was revoked, and does not trust it', async () => {
    const sig = signWith('platform-revoked').toString('base64url')
    expect((await check({ sha256, signature: sig, key_id: 'platform-revoked' })).body).toEqual({
      valid: true,
      trusted: false,
      reason: 'revoked_key',
      revoked_at: '2026-11-01T00:00:00.000Z',
      key_owner: 'platform',
    })
  })

  it('stops trusting a key from the first request after its revocation, though its parsed key is kept', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const x = publicKey.export({ format: 'jwk' }).x as string
    await app.database.db
      .insertInto('signing_keys')
      .values({
        key_id: 'platform-soon-revoked',
        public_key: x,
        private_key_encrypted: 'sealed elsewhere',
        created_at: new Date().toISOString(),
        retired_at: null,
        revoked_at: null,
        revocation_reason: null,
      })
      .execute()
    const signature = sign(null, Buffer.from(sha256, 'hex'), privateKey).toString('base64url')
    const body = { sha256, signature, key_id: 'platform-soon-revoked' }
    expect((await check(body)).body).toMatchObject({ trusted: true, reason: 'valid' })
    // Revoked by another process (signing-api's operator, admin-api): nothing tells this one.
    await app.database.db
      .updateTable('signing_keys')
      .set({ revoked_at: '2026-11-29T00:00:00.000Z', revocation_reason: 'compromised' })
      .where('key_id', '=', 'platform-soon-revoked')
      .execute()
    expect((await check(body)).body).toMatchObject({ valid: true, trusted: false, reason: 'revoked_key' })
  })

  it('refuses a request that is not the documented shape', async () => {
    const res = await check({ sha256, signature: 'x' })
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('ERR_VALIDATION')
  })

  it('publishes the trusted platform keys as a JWKS, and each key with its status', async () => {
    const jwks = (await app.inject({ method: 'GET', url: '/verify/keys' })).json()
    expect(jwks.keys.map((k: { kid: string }) => k.kid).sort()).toEqual([
      'platform-active',
      'platform-retired',
    ])
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', use: 'sig', alg: 'EdDSA' })
    const revoked = (await app.inject({ method: 'GET', url: '/verify/keys/platform-revoked' })).json()
    expect(revoked).toMatchObject({
      key_id: 'platform-revoked',
      status: 'revoked',
      revoked_at: '2026-11-01T00:00:00.000Z',
      jwk: { x: keys['platform-revoked']?.x },
    })
    const missing = await app.inject({ method: 'GET', url: '/verify/keys/nobody' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json().code).toBe('ERR_KEY_UNKNOWN')
  })

  describe('user keys', () => {
    const now = '2026-11-20T10:00:00.000Z'
    const user = { privateKey: generateKeyPairSync('ed25519').privateKey }
    const x = createPublicKey(user.privateKey).export({ format: 'jwk' }).x as string

    /** A user key row as identity-api stores it, attested by a platform key. */
    async function userKey(
      id: string,
      changes: Partial<UserKeyTable> = {},
      attestWith = 'platform-active',
      recorded: { purpose?: string; caller?: string } | null = {},
    ) {
      await app.database.db
        .insertInto('users')
        .values({
          id: `user-${id}`,
          email: `${id}@example.test`,
          display_name: id,
          role: 'user',
          created_at: now,
          disabled_at: null,
        })
        .execute()
      const base = {
        id,
        user_id: `user-${id}`,
        kind: 'signing' as const,
        algorithm: 'Ed25519' as const,
        public_key: x,
        created_at: now,
      }
      const digest = keyAttestationDigest(base)
      const signature = signWith(attestWith, digest).toString('base64url')
      // signing-api's record of the attestation: what it signed, why and for whom.
      if (recorded)
        await app.database.db
          .insertInto('signatures')
          .values({
            signature_id: `sig-${id}`,
            key_id: attestWith,
            sha256: digest,
            purpose: recorded.purpose ?? 'key_attestation',
            subject_id: id,
            user_id: base.user_id,
            signature,
            caller: recorded.caller ?? 'cluster.local/ns/docs/sa/identity-sa',
            signed_at: now,
          })
          .execute()
      await app.database.db
        .insertInto('user_keys')
        .values({
          ...base,
          fingerprint: createHash('sha256').update(Buffer.from(x, 'base64url')).digest('hex'),
          attestation_sha256: digest,
          attestation_signature_id: `sig-${id}`,
          attestation_signature: signature,
          attestation_key_id: attestWith,
          superseded_at: null,
          revoked_at: null,
          ...changes,
        })
        .execute()
    }
    const userSig = (digest = sha256) =>
      sign(null, Buffer.from(digest, 'hex'), user.privateKey).toString('base64url')

    beforeAll(async () => {
      await userKey('user-good')
      await userKey('user-revoked', { revoked_at: '2026-11-21T00:00:00.000Z' })
      await userKey('user-superseded', { superseded_at: '2026-11-22T00:00:00.000Z' })
      // Attested by a key the platform revoked, or with a signature over something else.
      await userKey('user-bad-attester', {}, 'platform-revoked')
      await userKey('user-forged', { attestation_signature: userSig() })
      await userKey('user-encryption', { kind: 'encryption', algorithm: 'X25519' })
      // A genuine platform signature over the statement, but asked for as something else, by
      // someone else, or with no record of it at all.
      await userKey('user-receipt-purpose', {}, 'platform-active', { purpose: 'upload_receipt' })
      await userKey('user-bucket-caller', {}, 'platform-active', {
        caller: 'cluster.local/ns/docs/sa/bucket-sa',
      })
      await userKey('user-unrecorded', {}, 'platform-active', null)
    })

    it('calls a key attested only when signing-api recorded a key_attestation asked for by identity-api', async () => {
      for (const key_id of ['user-receipt-purpose', 'user-bucket-caller', 'user-unrecorded']) {
        expect((await check({ sha256, signature: userSig(), key_id })).body).toMatchObject({
          valid: true,
          trusted: false,
          reason: 'unattested_key',
        })
        expect((await app.inject({ method: 'GET', url: `/verify/keys/${key_id}` })).json().attested).toBe(
          false,
        )
      }
    })

    it('trusts a signature by an attested user key', async () => {
      expect((await check({ sha256, signature: userSig(), key_id: 'user-good' })).body).toEqual({
        valid: true,
        trusted: true,
        reason: 'valid',
        key_owner: 'user',
        user_id: 'user-user-good',
      })
      // Superseded by a newer pair: what it signed stays trusted.
      expect((await check({ sha256, signature: userSig(), key_id: 'user-superseded' })).body.trusted).toBe(
        true,
      )
    })

    it('says revoked, unattested, mismatch and not-a-signing-key for user keys', async () => {
      expect((await check({ sha256, signature: userSig(), key_id: 'user-revoked' })).body).toMatchObject({
        valid: true,
        trusted: false,
        reason: 'revoked_key',
        revoked_at: '2026-11-21T00:00:00.000Z',
      })
      for (const key_id of ['user-bad-attester', 'user-forged'])
        expect((await check({ sha256, signature: userSig(), key_id })).body).toMatchObject({
          valid: true,
          trusted: false,
          reason: 'unattested_key',
        })
      const other = createHash('sha256').update('not what was signed').digest('hex')
      expect((await check({ sha256: other, signature: userSig(), key_id: 'user-good' })).body.reason).toBe(
        'mismatch',
      )
      expect((await check({ sha256, signature: userSig(), key_id: 'user-encryption' })).body.reason).toBe(
        'not_a_signing_key',
      )
    })

    it('shows a user signing key with its owner, attestation and status', async () => {
      const res = (await app.inject({ method: 'GET', url: '/verify/keys/user-superseded' })).json()
      expect(res).toMatchObject({
        key_id: 'user-superseded',
        owner: 'user',
        user_id: 'user-user-superseded',
        attested: true,
        status: 'retired',
        jwk: { kty: 'OKP', crv: 'Ed25519', x },
      })
      expect((await app.inject({ method: 'GET', url: '/verify/keys/user-forged' })).json().attested).toBe(
        false,
      )
      expect((await app.inject({ method: 'GET', url: '/verify/keys/user-encryption' })).statusCode).toBe(404)
      // The JWKS is the platform's keys only.
      const jwks = (await app.inject({ method: 'GET', url: '/verify/keys' })).json()
      expect(jwks.keys.map((k: { kid: string }) => k.kid)).not.toContain('user-good')
    })
  })
})
