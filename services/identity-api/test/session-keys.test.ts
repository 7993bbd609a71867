// identity-api on a database holding session-key rows it cannot use: a row
// sealed under another encryption key, a corrupt one, a public key without
// kid. It starts, signs with the newest key it can open, and its JWKS answers.
import { randomBytes } from 'node:crypto'
import { connectDatabase, type DatabaseHandle, seal } from '@docs-mesh/platform'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

const MINUTE = 60_000

describe.each(testDatabaseKinds(process.env))('session keys it cannot use, on %s', (kind) => {
  let database: TestDatabase
  let handle: DatabaseHandle
  const kek = randomBytes(32).toString('base64url')
  const build = () =>
    buildApp(
      loadServiceConfig({
        DATABASE_URL: database.url,
        SIGNING_API_URL: 'http://127.0.0.1:9',
        SESSION_ISSUER: 'https://docs.test/auth',
        OIDC_ISSUER: 'http://127.0.0.1:9/',
        OIDC_CLIENT_ID: 'docs-mesh',
        OIDC_CLIENT_SECRET: randomBytes(32).toString('base64url'),
        IDENTITY_ENCRYPTION_KEY: kek,
      }),
      { logger: false },
    )
  const insert = (kid: string, minutesAgo: number, publicJwk: object, privateSealed: string) =>
    handle.db
      .insertInto('session_keys')
      .values({
        kid,
        public_jwk: JSON.stringify(publicJwk),
        private_jwk_encrypted: privateSealed,
        created_at: new Date(Date.now() - minutesAgo * MINUTE).toISOString(),
        retired_at: null,
      })
      .execute()

  beforeEach(async () => {
    database = await createTestDatabase(kind, process.env)
    // A first start makes the tables and one good key.
    await (await build()).close()
    handle = connectDatabase(database.url)
  })
  afterEach(async () => {
    await handle.close()
    await database.drop()
  })

  it('starts past newer rows it cannot open and signs with the newest one it can', async () => {
    const good = await handle.db.selectFrom('session_keys').select(['kid']).executeTakeFirstOrThrow()
    const fake = { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43), alg: 'EdDSA', use: 'sig' }
    const otherKek = randomBytes(32)
    await insert(
      'session-other-kek',
      -1,
      { ...fake, kid: 'session-other-kek' },
      seal(otherKek, Buffer.from('{}'), 'session-other-kek'),
    )
    await insert('session-corrupt', -2, { ...fake, kid: 'session-corrupt' }, 'not sealed at all')

    const app = await build()
    try {
      const jwks = await app.inject({ method: 'GET', url: '/auth/.well-known/jwks.json' })
      expect(jwks.statusCode).toBe(200)
      const kids = (jwks.json() as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
      expect(kids).toContain(good.kid)
    } finally {
      await app.close()
    }
  })

  it('makes a new key when no row can be opened', async () => {
    await handle.db.updateTable('session_keys').set({ private_jwk_encrypted: 'garbage' }).execute()
    const app = await build()
    await app.close()
    const rows = await handle.db.selectFrom('session_keys').select(['kid', 'retired_at']).execute()
    expect(rows.filter((r) => r.retired_at === null)).toHaveLength(1)
    expect(rows).toHaveLength(2)
  })

  it('leaves a key row without kid out of the JWKS instead of answering 500', async () => {
    const good = await handle.db.selectFrom('session_keys').select(['kid']).executeTakeFirstOrThrow()
    await insert('session-no-kid', 1, { kty: 'OKP', crv: 'Ed25519', x: 'B'.repeat(43) }, 'x')
    await insert('session-not-json', 1, {}, 'x')
    await handle.db
      .updateTable('session_keys')
      .set({ public_jwk: '{not json' })
      .where('kid', '=', 'session-not-json')
      .execute()
    const app = await build()
    try {
      const jwks = await app.inject({ method: 'GET', url: '/auth/.well-known/jwks.json' })
      expect(jwks.statusCode).toBe(200)
      // The first start's key, and neither unusable row.
      const keys = (jwks.json() as { keys: Array<{ kid?: string }> }).keys
      expect(keys.map((k) => k.kid)).toEqual([good.kid])
    } finally {
      await app.close()
    }
  })
})
