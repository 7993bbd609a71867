// bucket-api as it runs, with the real services it works with: identity-api
// and signing-api apps on the same database, reached through mesh hops that
// add the caller's SPIFFE identity as the sidecars would; verification-api for
// checking what was signed. alice, bob and carol have sessions (MFA-verified)
// and keys registered through identity-api, attested by signing-api.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp as buildIdentityApp } from '@docs-mesh/identity-api/app'
import { loadServiceConfig as loadIdentityConfig } from '@docs-mesh/identity-api/config'
import type { ServiceApp } from '@docs-mesh/platform'
import {
  createTestDatabase,
  createTestSession,
  createTestSessionKey,
  type MeshHop,
  startMeshHop,
  type TestDatabase,
  type TestDatabaseKind,
} from '@docs-mesh/platform/testing'
import { buildTestSigningApp } from '@docs-mesh/signing-api/testing'
import { buildApp as buildVerificationApp } from '@docs-mesh/verification-api/app'
import { loadServiceConfig as loadVerificationConfig } from '@docs-mesh/verification-api/config'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'
import { type BrowserKeys, makeKeys } from './browser.ts'

export interface TestUser {
  name: string
  id: string
  email: string
  token: string
  keys: BrowserKeys
  signingKeyId: string
  encryptionKey: { key_id: string; public_key: string }
}

export interface BucketFixture {
  app: ServiceApp
  url: string
  blobDir: string
  database: TestDatabase
  signing: ServiceApp
  identity: ServiceApp
  verification: ServiceApp
  signingHop: MeshHop
  identityHop: MeshHop
  users: Record<'alice' | 'bob' | 'carol', TestUser>
  /** Settings bucket-api was built with, for a second process on the same data. */
  env: Record<string, string>
  close(): Promise<void>
}

const ISSUER = 'https://docs.test/auth'

export async function startBucketFixture(
  kind: TestDatabaseKind,
  env: Record<string, string> = {},
): Promise<BucketFixture> {
  const database = await createTestDatabase(kind, process.env)
  const signing = await buildTestSigningApp(database.url)
  const attestHop = await startMeshHop(signing, { caller: 'identity-sa', callee: 'signing-sa' })
  const identity = await buildIdentityApp(
    loadIdentityConfig({
      DATABASE_URL: database.url,
      MESH_SIDECAR: 'true',
      SIGNING_API_URL: attestHop.url,
      SESSION_ISSUER: ISSUER,
      // No one signs in through a provider here: sessions are made as identity-api makes them.
      OIDC_ISSUER: 'http://127.0.0.1:9/',
      OIDC_CLIENT_ID: 'docs-mesh',
      OIDC_CLIENT_SECRET: randomBytes(32).toString('base64url'),
      IDENTITY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    }),
    { logger: false },
  )
  const verification = await buildVerificationApp(
    loadVerificationConfig({ DATABASE_URL: database.url, MESH_SIDECAR: 'true' }),
    {
      logger: false,
    },
  )
  const identityHop = await startMeshHop(identity, { caller: 'bucket-sa', callee: 'identity-sa' })
  const signingHop = await startMeshHop(signing, { caller: 'bucket-sa', callee: 'signing-sa' })

  const sessionKey = await createTestSessionKey(identity.database)
  const users = {} as BucketFixture['users']
  for (const name of ['alice', 'bob', 'carol'] as const) {
    const email = `${name}@example.test`
    const session = await createTestSession(identity.database, sessionKey, {
      issuer: ISSUER,
      audience: 'docs-mesh',
      mfaVerified: true,
      email,
    })
    const keys = await makeKeys()
    const res = await identity.inject({
      method: 'POST',
      url: '/auth/keys',
      headers: { authorization: `Bearer ${session.token}` },
      payload: keys.publicJwks,
    })
    if (res.statusCode !== 201) throw new Error(`registering ${name}'s keys: ${res.statusCode} ${res.body}`)
    const [signingKey, encryptionKey] = res.json().keys
    users[name] = {
      name,
      id: session.userId,
      email,
      token: session.token,
      keys,
      signingKeyId: signingKey.key_id,
      encryptionKey: { key_id: encryptionKey.key_id, public_key: encryptionKey.public_key },
    }
  }

  const blobDir = mkdtempSync(join(tmpdir(), 'docs-mesh-blobs-'))
  const settings = {
    DATABASE_URL: database.url,
    IDENTITY_API_URL: identityHop.url,
    SIGNING_API_URL: signingHop.url,
    SESSION_ISSUER: ISSUER,
    BLOB_DIR: blobDir,
    EXPIRY_INTERVAL_SECONDS: '0',
    SWEEP_INTERVAL_SECONDS: '0',
    MESH_SIDECAR: 'true',
    // The flow tests send more uploads an hour than a person; quota.test.ts tests the limit itself.
    UPLOAD_RATE_PER_HOUR: '10000',
    ...env,
  }
  const app = await buildApp(loadServiceConfig(settings), { logger: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    app,
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    blobDir,
    database,
    signing,
    identity,
    verification,
    signingHop,
    identityHop,
    users,
    env: settings,
    async close() {
      await app.close()
      for (const hop of [identityHop, signingHop, attestHop]) await hop.close()
      for (const a of [verification, identity, signing]) await a.close()
      await database.drop()
      rmSync(blobDir, { recursive: true, force: true })
    },
  }
}
