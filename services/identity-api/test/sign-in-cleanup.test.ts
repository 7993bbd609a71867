// What each new sign-in clears away, checked row by row: codes expired more
// than a day ago go; codes expired less than a day ago stay (so a late replay
// is still recognised and ends its session); live codes stay; and only
// sign-in attempts that expired go.
import { sha256Hex } from '@docs-mesh/platform'
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type IdentityFixture, startIdentityFixture } from './fixture.ts'

const HOUR_MS = 3600_000

describe.each(testDatabaseKinds(process.env))('sign-in clean-up on %s', (kind) => {
  let f: IdentityFixture
  beforeAll(async () => {
    f = await startIdentityFixture(kind, { AUTH_RATE_LIMIT_PER_MINUTE: '40' })
  })
  afterAll(() => f.close())

  const db = () => f.app.database.db
  const expireCode = (code: string, at: Date) =>
    db()
      .updateTable('session_codes')
      .set({ expires_at: at.toISOString() })
      .where('code_hash', '=', sha256Hex(code))
      .execute()
  const attempt = (state: string, expiresAt: Date) =>
    db()
      .insertInto('login_attempts')
      .values({
        state,
        provider: 'local',
        code_verifier: 'v'.repeat(43),
        nonce: 'n',
        created_at: new Date(expiresAt.getTime() - 600_000).toISOString(),
        expires_at: expiresAt.toISOString(),
      })
      .execute()

  it('deletes exactly the codes past a day of expiry and the expired attempts', async () => {
    const now = Date.now()
    const longGone = (await f.signInToCode('alice')).code
    const lately = (await f.signInToCode('bob')).code
    const live = (await f.signInToCode('carol')).code
    await expireCode(longGone, new Date(now - 25 * HOUR_MS))
    await expireCode(lately, new Date(now - 23 * HOUR_MS))
    await attempt('expired-attempt', new Date(now - 1000))
    await attempt('live-attempt', new Date(now + 600_000))

    const login = await fetch(`${f.appUrl}/auth/oidc/local/login`, { redirect: 'manual' })
    expect(login.status).toBe(302)

    const codes = (await db().selectFrom('session_codes').select('code_hash').execute()).map(
      (c) => c.code_hash,
    )
    expect(codes.sort()).toEqual([sha256Hex(lately), sha256Hex(live)].sort())
    const states = (await db().selectFrom('login_attempts').select('state').execute()).map((a) => a.state)
    expect(states).toContain('live-attempt')
    expect(states).not.toContain('expired-attempt')
    // The code kept past its expiry is still recognised: replaying it is refused, not unknown-and-ignored.
    expect((await f.exchange(lately)).json()).toMatchObject({ status: 400, code: 'ERR_CODE_INVALID' })
    expect((await f.exchange(live)).statusCode).toBe(200)
  })
})
