// The MFA lockout against guesses sent all at once: every attempt is counted
// before its code is checked, so no burst gets more than five judged.
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_FAILURES } from '../src/mfa/mfa.ts'
import { totpCode } from '../src/mfa/totp.ts'
import { type IdentityFixture, type SignedIn, startIdentityFixture } from './fixture.ts'

describe.each(testDatabaseKinds(process.env))('MFA lockout under parallel guesses on %s', (kind) => {
  let f: IdentityFixture
  beforeAll(async () => {
    // The per-address and per-account rate limits are not what these tests are about.
    f = await startIdentityFixture(kind, { AUTH_RATE_LIMIT_PER_MINUTE: '1000' })
  })
  afterAll(() => f.close())

  const verify = (token: string, body: object) =>
    f.app.inject({ method: 'POST', url: '/auth/mfa/verify', headers: f.bearer(token), payload: body })
  // Failures judged for this session (a user may have failed in another test's session).
  const failures = async (signedIn: SignedIn) =>
    (await f.app.database.db.selectFrom('audit_entries').select(['type', 'data']).execute()).filter(
      (e) => e.type === 'mfa.verify_failed' && JSON.parse(e.data).session_id === signedIn.sessionId,
    ).length
  // Each test starts the user's MFA afresh (the provider knows three people).
  const enrolled = async (username: string) => {
    const session = await f.signIn(username)
    await f.app.database.db.deleteFrom('recovery_codes').where('user_id', '=', session.user.id).execute()
    await f.app.database.db.deleteFrom('mfa_credentials').where('user_id', '=', session.user.id).execute()
    const res = await f.app.inject({
      method: 'POST',
      url: '/auth/mfa/enroll',
      headers: f.bearer(session.token),
    })
    return { session, ...(res.json() as { secret: string; recovery_codes: string[] }) }
  }
  const wrongCode = (right: string, i: number) =>
    String((Number(right) + 100_000 + i * 1_013) % 1_000_000).padStart(6, '0')

  it('nine wrong codes at once, then the right one: five are judged, the right one gets 429 and the session stays unverified', async () => {
    // The right code goes after the burst is answered: sent inside it, it may reach
    // PostgreSQL ahead of the wrong ones (each request has its own connection) and be
    // judged within the budget, rightly. The slow-guess test below sends it mid-burst.
    const { session, secret } = await enrolled('alice')
    const right = totpCode(secret, Date.now())
    const burst = await Promise.all(
      Array.from({ length: 9 }, (_, i) => verify(session.token, { code: wrongCode(right, i) })),
    )
    expect(await failures(session)).toBe(MAX_FAILURES)
    // Four wrong answers with attempts left; the fifth locks; the other four are refused unseen.
    expect(burst.filter((r) => r.statusCode === 400)).toHaveLength(MAX_FAILURES - 1)
    expect(burst.filter((r) => r.statusCode === 429)).toHaveLength(9 - (MAX_FAILURES - 1))
    const last = await verify(session.token, { code: right })
    expect(last.statusCode).toBe(429)
    expect(last.json()).toMatchObject({ code: 'ERR_MFA_LOCKED' })
    const me = await f.app.inject({ url: '/auth/me', headers: f.bearer(session.token) })
    expect(me.json()).toMatchObject({ session: { mfa_verified: false } })
  })

  it('the same with slow wrong guesses (recovery codes, Argon2id) ahead of the right TOTP code', async () => {
    // A slow check keeps the old read-then-count window open for as long as the hashes take.
    const { session, secret } = await enrolled('alice')
    expect((await verify(session.token, { code: totpCode(secret, Date.now()) })).statusCode).toBe(200)
    await f.app.database.db
      .updateTable('mfa_credentials')
      .set({ last_used_step: null })
      .where('user_id', '=', session.user.id)
      .execute()
    const next = await f.signIn('alice')
    const wrong = Array.from({ length: 9 }, (_, i) =>
      verify(next.token, { recovery_code: `zzzzz-${String(i).padStart(5, '0')}` }),
    )
    // The right code goes once the first wrong guess has been judged: the others are still being hashed.
    await Promise.race(wrong)
    const right = await verify(next.token, { code: totpCode(secret, Date.now()) })
    expect(right.statusCode).toBe(429)
    expect((await Promise.all(wrong)).filter((r) => r.statusCode === 200)).toHaveLength(0)
    const me = await f.app.inject({ url: '/auth/me', headers: f.bearer(next.token) })
    expect(me.json()).toMatchObject({ session: { mfa_verified: false } })
  })

  it('40 wrong codes at once: at most five are judged, the rest refused unseen', async () => {
    const { session, secret } = await enrolled('bob')
    const right = totpCode(secret, Date.now())
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => verify(session.token, { code: wrongCode(right, i) })),
    )
    // Exactly the budget is judged: four wrong answers, the fifth locks, the rest are refused unseen.
    expect(await failures(session)).toBe(MAX_FAILURES)
    expect(results.filter((r) => r.statusCode === 400)).toHaveLength(MAX_FAILURES - 1)
    expect(results.filter((r) => r.statusCode === 429)).toHaveLength(40 - (MAX_FAILURES - 1))
    const row = await f.app.database.db
      .selectFrom('mfa_credentials')
      .select(['locked_until'])
      .where('user_id', '=', session.user.id)
      .executeTakeFirstOrThrow()
    expect(Date.parse(row.locked_until ?? '')).toBeGreaterThan(Date.now())
  })

  it('20 recovery-code guesses at once: at most five are judged', async () => {
    const { session, secret } = await enrolled('carol')
    expect((await verify(session.token, { code: totpCode(secret, Date.now()) })).statusCode).toBe(200)
    const next = await f.signIn('carol')
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        verify(next.token, { recovery_code: `aaaaa-${String(i).padStart(5, '0')}` }),
      ),
    )
    expect(await failures(next)).toBe(MAX_FAILURES)
    expect(results.filter((r) => r.statusCode === 400)).toHaveLength(MAX_FAILURES - 1)
    expect(results.filter((r) => r.statusCode === 429)).toHaveLength(20 - (MAX_FAILURES - 1))
  })
})
