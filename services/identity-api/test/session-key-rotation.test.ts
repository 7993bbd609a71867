// Session-key rotation as the other services see it: a key past its maximum
// age is replaced, the retired key stays in the JWKS as long as a token it
// signed may live, and a verifier that already cached the old key (another
// service's, on its own connection) accepts the new key without a restart.
import { randomBytes, randomUUID } from 'node:crypto'
import {
  connectDatabase,
  createSessionVerifier,
  type DatabaseHandle,
  migrateGroup,
} from '@docs-mesh/platform'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '@docs-mesh/platform/testing'
import { decodeProtectedHeader } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSessionKeys } from '../src/sessions/session-keys.ts'
import { createSessions } from '../src/sessions/sessions.ts'

const issuer = 'https://docs.test/auth'
const audience = 'docs-mesh'
const DAY_MS = 24 * 3600_000
const TOKEN_MS = 15 * 60_000

describe.each(testDatabaseKinds(process.env))('session-key rotation on %s', (kind) => {
  let database: TestDatabase
  let identity: DatabaseHandle
  let otherService: DatabaseHandle
  let clock: Date
  const now = () => clock

  beforeEach(async () => {
    clock = new Date()
    database = await createTestDatabase(kind, process.env)
    identity = connectDatabase(database.url)
    await migrateGroup(identity, 'identity')
    otherService = connectDatabase(database.url)
  })
  afterEach(async () => {
    await otherService.close()
    await identity.close()
    await database.drop()
  })

  async function setUp() {
    const keys = createSessionKeys(identity, {
      kek: randomBytes(32),
      maxAgeMs: DAY_MS,
      tokenLifetimeMs: TOKEN_MS,
      now,
    })
    const sessions = createSessions(identity, {
      keys,
      issuer,
      audience,
      ttlMs: TOKEN_MS,
      maxAgeMs: 7 * DAY_MS,
      now,
    })
    const userId = randomUUID()
    await identity.db
      .insertInto('users')
      .values({
        id: userId,
        email: `${userId}@example.test`,
        display_name: 'Rotating User',
        role: 'user',
        created_at: clock.toISOString(),
        disabled_at: null,
      })
      .execute()
    const sessionId = await sessions.start(userId, '127.0.0.1')
    // The other service's verifier, with its default key cache (a minute).
    const verify = createSessionVerifier(otherService, { issuer, audience, now })
    return { keys, sessions, sessionId, verify }
  }

  const kidOf = (token: string) => decodeProtectedHeader(token).kid as string
  const publishedKids = async (keys: ReturnType<typeof createSessionKeys>) =>
    (await keys.published()).map((k) => k.kid)

  it('keeps a retired key published while its tokens may live, then drops it', async () => {
    const { keys, sessions, sessionId } = await setUp()
    const first = kidOf((await sessions.issueToken(sessionId)).token)
    expect(await publishedKids(keys)).toEqual([first])

    clock = new Date(clock.getTime() + DAY_MS + 1000)
    const second = kidOf((await sessions.issueToken(sessionId)).token)
    expect(second).not.toBe(first)
    const retired = await identity.db
      .selectFrom('session_keys')
      .select('retired_at')
      .where('kid', '=', first)
      .executeTakeFirstOrThrow()
    expect(retired.retired_at).not.toBeNull()
    // Newest first, and the retired key still there for tokens it signed a moment ago.
    expect(await publishedKids(keys)).toEqual([second, first])

    clock = new Date(clock.getTime() + TOKEN_MS - 1000)
    expect(await publishedKids(keys)).toEqual([second, first])
    clock = new Date(clock.getTime() + 2000)
    expect(await publishedKids(keys)).toEqual([second])
  })

  it("lets another service's verifier, which cached the old key, accept the new key without a restart", async () => {
    const { sessions, sessionId, verify } = await setUp()
    const before = await sessions.issueToken(sessionId)
    await expect(verify(before.token)).resolves.toMatchObject({ sessionId })

    // Well within the verifier's key cache time: only the cache lookup by kid can find the new key.
    clock = new Date(clock.getTime() + DAY_MS + 1000)
    const after = await sessions.issueToken(sessionId)
    expect(kidOf(after.token)).not.toBe(kidOf(before.token))
    await expect(verify(after.token)).resolves.toMatchObject({ sessionId })
  })
})
