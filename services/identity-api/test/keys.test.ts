// Users' public keys: made with WebCrypto as a browser makes them, validated,
// attested by the real signing-api over a mesh hop, listed, superseded and
// revoked; and /internal/users, which gives them to bucket-api only.
import { createPublicKey, verify, webcrypto } from 'node:crypto'
import { keyAttestationDigest } from '@docs-mesh/platform'
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validatePublicKey } from '../src/keys/public-keys.ts'
import { fromWorkload, type IdentityFixture, type SignedIn, startIdentityFixture } from './fixture.ts'

const { subtle } = webcrypto

/** What the browser sends: the public halves as WebCrypto exports them. */
async function browserKeys() {
  const signing = (await subtle.generateKey({ name: 'Ed25519' }, true, [
    'sign',
    'verify',
  ])) as unknown as webcrypto.CryptoKeyPair
  const encryption = (await subtle.generateKey({ name: 'X25519' }, true, [
    'deriveBits',
  ])) as unknown as webcrypto.CryptoKeyPair
  return {
    signing_key: await subtle.exportKey('jwk', signing.publicKey),
    encryption_key: await subtle.exportKey('jwk', encryption.publicKey),
    privateSigning: await subtle.exportKey('jwk', signing.privateKey),
  }
}

describe('public key validation', () => {
  it('never throws anything but ERR_KEY_INVALID for any 32 bytes, on either curve', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom('signing', 'encryption'),
        (bytes, kind) => {
          const jwk = {
            kty: 'OKP',
            crv: kind === 'signing' ? 'Ed25519' : 'X25519',
            x: Buffer.from(bytes).toString('base64url'),
          }
          try {
            const valid = validatePublicKey('k', kind as 'signing' | 'encryption', jwk)
            expect(valid.publicKey).toBe(jwk.x)
          } catch (error) {
            expect(error).toMatchObject({ statusCode: 400, code: 'ERR_KEY_INVALID' })
          }
        },
      ),
    )
  })

  it('refuses any x that is not exactly 32 bytes of canonical base64url', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (x) => {
        fc.pre(!/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(x))
        expect(() => validatePublicKey('k', 'encryption', { kty: 'OKP', crv: 'X25519', x })).toThrow(
          expect.objectContaining({ code: 'ERR_KEY_INVALID' }),
        )
      }),
    )
  })
})

describe.each(testDatabaseKinds(process.env))('user keys on %s', (kind) => {
  let f: IdentityFixture
  let alice: SignedIn
  beforeAll(async () => {
    f = await startIdentityFixture(kind)
    alice = await f.signInWithMfa('alice')
  })
  afterAll(() => f.close())

  const register = (token: string, body: object) =>
    f.app.inject({ method: 'POST', url: '/auth/keys', headers: f.bearer(token), payload: body })
  const platformKey = async (keyId: string) => {
    const row = await f.app.database.db
      .selectFrom('signing_keys')
      .select('public_key')
      .where('key_id', '=', keyId)
      .executeTakeFirstOrThrow()
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: row.public_key }, format: 'jwk' })
  }

  it('registers a browser-made pair, each key attested by signing-api over the mesh', async () => {
    const keys = await browserKeys()
    const callsBefore = f.hop.calls.length
    const res = await register(alice.token, {
      signing_key: keys.signing_key,
      encryption_key: keys.encryption_key,
    })
    expect(res.statusCode).toBe(201)
    const body = res.json()
    expect(body.keys).toHaveLength(2)
    const [signing, encryption] = body.keys
    expect(signing).toMatchObject({
      kind: 'signing',
      algorithm: 'Ed25519',
      public_key: keys.signing_key.x,
      status: 'current',
    })
    expect(encryption).toMatchObject({
      kind: 'encryption',
      algorithm: 'X25519',
      public_key: keys.encryption_key.x,
      status: 'current',
    })
    for (const key of body.keys) {
      const digest = keyAttestationDigest({
        id: key.key_id,
        user_id: alice.user.id,
        kind: key.kind,
        algorithm: key.algorithm,
        public_key: key.public_key,
        created_at: key.created_at,
      })
      expect(key.attestation.sha256).toBe(digest)
      const signature = Buffer.from(key.attestation.signature, 'base64url')
      expect(
        verify(null, Buffer.from(digest, 'hex'), await platformKey(key.attestation.key_id), signature),
      ).toBe(true)
    }
    // One signature per key, through the mesh hop.
    expect(
      f.hop.calls.slice(callsBefore).filter((c) => c.method === 'POST' && c.url === '/sign'),
    ).toHaveLength(2)
    const recorded = await f.app.database.db
      .selectFrom('signatures')
      .selectAll()
      .where('purpose', '=', 'key_attestation')
      .execute()
    expect(recorded.map((r) => r.subject_id)).toEqual(
      expect.arrayContaining([signing.key_id, encryption.key_id]),
    )
    expect(recorded.every((r) => r.caller === 'cluster.local/ns/docs/sa/identity-sa')).toBe(true)
  })

  it('supersedes the previous pair when a new one is registered, and lists them all', async () => {
    const before = (await f.app.inject({ url: '/auth/keys', headers: f.bearer(alice.token) })).json().keys
    const keys = await browserKeys()
    await register(alice.token, { signing_key: keys.signing_key, encryption_key: keys.encryption_key })
    const after = (await f.app.inject({ url: '/auth/keys', headers: f.bearer(alice.token) })).json().keys
    expect(after).toHaveLength(before.length + 2)
    expect(
      after
        .filter((k: { status: string }) => k.status === 'current')
        .map((k: { public_key: string }) => k.public_key)
        .sort(),
    ).toEqual([keys.signing_key.x, keys.encryption_key.x].sort())
  })

  it('needs an MFA-verified session to change keys', async () => {
    const plain = await f.signIn('alice')
    const keys = await browserKeys()
    const res = await register(plain.token, {
      signing_key: keys.signing_key,
      encryption_key: keys.encryption_key,
    })
    expect(res.json()).toMatchObject({ status: 403, code: 'ERR_MFA_REQUIRED' })
    // Listing needs only a session.
    expect((await f.app.inject({ url: '/auth/keys', headers: f.bearer(plain.token) })).statusCode).toBe(200)
  })

  it('refuses private keys, wrong curves, bad encodings and weak points, storing nothing', async () => {
    const good = await browserKeys()
    const count = async () => (await f.app.database.db.selectFrom('user_keys').select('id').execute()).length
    const n = await count()
    const cases: Array<[object, string]> = [
      [{ signing_key: good.privateSigning, encryption_key: good.encryption_key }, 'ERR_KEY_PRIVATE'],
      [{ signing_key: good.encryption_key, encryption_key: good.encryption_key }, 'ERR_KEY_INVALID'],
      [{ signing_key: good.signing_key, encryption_key: good.signing_key }, 'ERR_KEY_INVALID'],
      [
        { signing_key: { ...good.signing_key, kty: 'EC' }, encryption_key: good.encryption_key },
        'ERR_KEY_INVALID',
      ],
      [
        { signing_key: { ...good.signing_key, x: 'AAAA' }, encryption_key: good.encryption_key },
        'ERR_KEY_INVALID',
      ],
      [
        {
          signing_key: { ...good.signing_key, x: `${good.signing_key.x}A` },
          encryption_key: good.encryption_key,
        },
        'ERR_KEY_INVALID',
      ],
      // Not a point on Ed25519 (y ≥ p).
      [
        {
          signing_key: { ...good.signing_key, x: Buffer.alloc(32, 0xff).toString('base64url') },
          encryption_key: good.encryption_key,
        },
        'ERR_KEY_INVALID',
      ],
      // The identity point: small order.
      [
        {
          signing_key: {
            ...good.signing_key,
            x: Buffer.from([1, ...Buffer.alloc(31)]).toString('base64url'),
          },
          encryption_key: good.encryption_key,
        },
        'ERR_KEY_INVALID',
      ],
      // X25519 zero and one: low order.
      [
        {
          signing_key: good.signing_key,
          encryption_key: { ...good.encryption_key, x: Buffer.alloc(32).toString('base64url') },
        },
        'ERR_KEY_INVALID',
      ],
      [
        {
          signing_key: good.signing_key,
          encryption_key: {
            ...good.encryption_key,
            x: Buffer.from([1, ...Buffer.alloc(31)]).toString('base64url'),
          },
        },
        'ERR_KEY_INVALID',
      ],
      [{ signing_key: good.signing_key }, 'ERR_VALIDATION'],
      [{ signing_key: good.signing_key, encryption_key: good.encryption_key, extra: true }, 'ERR_VALIDATION'],
    ]
    for (const [body, code] of cases) {
      const res = await register(alice.token, body)
      expect(res.statusCode, JSON.stringify(body)).toBe(400)
      expect(res.json()).toMatchObject({ code })
    }
    expect(await count()).toBe(n)
  })

  it('answers 503 and stores nothing when signing-api is down', async () => {
    const fresh = await startIdentityFixture(kind)
    try {
      const bob = await fresh.signInWithMfa('bob')
      fresh.hop.down()
      const keys = await browserKeys()
      const res = await fresh.app.inject({
        method: 'POST',
        url: '/auth/keys',
        headers: fresh.bearer(bob.token),
        payload: { signing_key: keys.signing_key, encryption_key: keys.encryption_key },
      })
      expect(res.statusCode).toBe(503)
      expect(res.json()).toMatchObject({ code: 'ERR_ATTESTATION_UNAVAILABLE' })
      expect(await fresh.app.database.db.selectFrom('user_keys').selectAll().execute()).toEqual([])
    } finally {
      await fresh.close()
    }
  })

  it("revokes a key of one's own, once; another user's key is not found", async () => {
    // A pair of this test's own: the other tests' keys may or may not be there.
    const keys = await browserKeys()
    const registered = await register(alice.token, {
      signing_key: keys.signing_key,
      encryption_key: keys.encryption_key,
    })
    expect(registered.statusCode).toBe(201)
    const target = registered.json().keys.find((k: { kind: string }) => k.kind === 'signing')
    const bob = await f.signInWithMfa('bob')
    const stranger = await f.app.inject({
      method: 'DELETE',
      url: `/auth/keys/${target.key_id}`,
      headers: f.bearer(bob.token),
    })
    expect(stranger.json()).toMatchObject({ status: 404, code: 'ERR_KEY_NOT_FOUND' })

    const res = await f.app.inject({
      method: 'DELETE',
      url: `/auth/keys/${target.key_id}`,
      headers: f.bearer(alice.token),
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({
      key_id: target.key_id,
      status: 'revoked',
      revoked_at: expect.any(String),
    })
    const again = await f.app.inject({
      method: 'DELETE',
      url: `/auth/keys/${target.key_id}`,
      headers: f.bearer(alice.token),
    })
    expect(again.json()).toMatchObject({ status: 409, code: 'ERR_KEY_REVOKED' })
    const audit = await f.app.database.db
      .selectFrom('audit_entries')
      .select(['type', 'data'])
      .where('type', 'in', ['key.register', 'key.revoke'])
      .execute()
    // One revocation audited (the refused second one adds nothing), after the key's one registration.
    expect(
      audit.filter((a) => a.type === 'key.revoke' && JSON.parse(a.data).key_id === target.key_id),
    ).toHaveLength(1)
    expect(
      audit.filter(
        (a) =>
          a.type === 'key.register' &&
          JSON.parse(a.data).keys.some((k: { key_id: string }) => k.key_id === target.key_id),
      ),
    ).toHaveLength(1)
  })

  describe('/internal/users', () => {
    it('gives bucket-api a recipient by e-mail or id, with the current keys', async () => {
      const carol = await f.signInWithMfa('carol')
      const keys = await browserKeys()
      await register(carol.token, { signing_key: keys.signing_key, encryption_key: keys.encryption_key })
      const byEmail = await f.app.inject({
        url: '/internal/users?email=Carol@docs-mesh.localhost',
        headers: fromWorkload('bucket-sa'),
      })
      expect(byEmail.statusCode).toBe(200)
      expect(byEmail.json()).toMatchObject({
        id: carol.user.id,
        display_name: 'Carol Admin',
        keys: {
          signing: { public_key: keys.signing_key.x, status: 'current' },
          encryption: { public_key: keys.encryption_key.x, status: 'current' },
        },
      })
      const byId = await f.app.inject({
        url: `/internal/users/${carol.user.id}`,
        headers: fromWorkload('bucket-sa'),
      })
      expect(byId.json()).toEqual(byEmail.json())
    })

    it('says 404 for an unknown or disabled user; a user without keys has null keys', async () => {
      const unknown = await f.app.inject({
        url: '/internal/users?email=nobody@docs-mesh.localhost',
        headers: fromWorkload('bucket-sa'),
      })
      expect(unknown.json()).toMatchObject({ status: 404, code: 'ERR_USER_NOT_FOUND' })
      const bob = await f.signIn('bob')
      const keyless = await f.app.inject({
        url: `/internal/users/${bob.user.id}`,
        headers: fromWorkload('bucket-sa'),
      })
      expect(keyless.json()).toMatchObject({ keys: { signing: null, encryption: null } })
      await f.app.database.db
        .updateTable('users')
        .set({ disabled_at: new Date().toISOString() })
        .where('id', '=', bob.user.id)
        .execute()
      const disabled = await f.app.inject({
        url: `/internal/users/${bob.user.id}`,
        headers: fromWorkload('bucket-sa'),
      })
      expect(disabled.statusCode).toBe(404)
      await f.app.database.db
        .updateTable('users')
        .set({ disabled_at: null })
        .where('id', '=', bob.user.id)
        .execute()
    })

    it('refuses every identity but bucket-api, and requests with no identity', async () => {
      for (const sa of ['frontend-sa', 'admin-sa', 'verification-sa', 'signing-sa', 'identity-sa']) {
        const res = await f.app.inject({ url: `/internal/users/${alice.user.id}`, headers: fromWorkload(sa) })
        expect(res.json(), sa).toMatchObject({ status: 403, code: 'ERR_CALLER_FORBIDDEN' })
      }
      expect((await f.app.inject({ url: `/internal/users/${alice.user.id}` })).json()).toMatchObject({
        status: 403,
        code: 'ERR_CALLER_MISSING',
      })
      const session = await f.app.inject({
        url: `/internal/users/${alice.user.id}`,
        headers: f.bearer(alice.token),
      })
      expect(session.statusCode).toBe(403)
      const foreign = await f.app.inject({
        url: `/internal/users/${alice.user.id}`,
        headers: {
          'x-forwarded-client-cert':
            'By=spiffe://cluster.local/ns/docs/sa/identity-sa;URI=spiffe://evil.example/ns/docs/sa/bucket-sa',
        },
      })
      expect(foreign.statusCode).toBe(403)
    })
  })
})
