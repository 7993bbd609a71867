// The sign-in and MFA rate limits: keyed on the address the gateway vouches
// for (x-envoy-external-address, set by the sidecar's side of the mesh) and
// on the account, never on X-Forwarded-For, which the client writes.
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type IdentityFixture, startIdentityFixture } from './fixture.ts'

const LIMIT = 10
const ENROL_LIMIT = 3

describe.each(testDatabaseKinds(process.env))('rate limits on %s', (kind) => {
  let f: IdentityFixture
  beforeAll(async () => {
    f = await startIdentityFixture(kind, {
      AUTH_RATE_LIMIT_PER_MINUTE: String(LIMIT),
      MFA_ENROL_LIMIT_PER_HOUR: String(ENROL_LIMIT),
    })
  })
  afterAll(() => f.close())

  const login = (headers: Record<string, string>) => f.app.inject({ url: '/auth/oidc/local/login', headers })

  it('a new X-Forwarded-For per request does not reset the sign-in limit', async () => {
    const statuses: number[] = []
    for (let i = 0; i <= LIMIT; i++) {
      const res = await login({
        'x-envoy-external-address': '198.51.100.9',
        'x-forwarded-for': `10.0.${i >> 8}.${i & 255}`,
      })
      statuses.push(res.statusCode)
    }
    expect(statuses.slice(0, LIMIT).every((s) => s === 302)).toBe(true)
    expect(statuses[LIMIT]).toBe(429)
    const refused = await login({ 'x-envoy-external-address': '198.51.100.9', 'x-forwarded-for': '10.9.9.9' })
    expect(refused.json()).toMatchObject({ status: 429, code: 'ERR_RATE_LIMITED' })
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
  })

  it('two clients behind different external addresses do not share a bucket', async () => {
    for (let i = 0; i < LIMIT; i++)
      expect((await login({ 'x-envoy-external-address': '203.0.113.1' })).statusCode).toBe(302)
    expect((await login({ 'x-envoy-external-address': '203.0.113.1' })).statusCode).toBe(429)
    expect((await login({ 'x-envoy-external-address': '203.0.113.2' })).statusCode).toBe(302)
  })

  it('the MFA verification limit holds for the account across addresses', async () => {
    // Under the lockout's five failures: an account limit of three a minute.
    const strict = await startIdentityFixture(kind, { AUTH_RATE_LIMIT_PER_MINUTE: '3' })
    try {
      const bob = await strict.signIn('bob')
      await strict.app.inject({ method: 'POST', url: '/auth/mfa/enroll', headers: strict.bearer(bob.token) })
      const answers: Array<{ status: number; code: string }> = []
      for (let i = 0; i < 4; i++) {
        const res = await strict.app.inject({
          method: 'POST',
          url: '/auth/mfa/verify',
          headers: {
            ...strict.bearer(bob.token),
            'x-envoy-external-address': `192.0.2.${i + 1}`,
            'x-forwarded-for': `10.1.0.${i + 1}`,
          },
          payload: { code: '000000' },
        })
        answers.push({ status: res.statusCode, code: res.json().code })
      }
      expect(answers.slice(0, 3).map((a) => a.status)).toEqual([400, 400, 400])
      expect(answers[3]).toEqual({ status: 429, code: 'ERR_RATE_LIMITED' })
    } finally {
      await strict.close()
    }
  })

  it('50 enrolments at once are refused long before they cost 500 Argon2id hashes', async () => {
    const carol = await f.signIn('carol')
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        f.app.inject({ method: 'POST', url: '/auth/mfa/enroll', headers: f.bearer(carol.token) }),
      ),
    )
    const enrolled = results.filter((r) => r.statusCode === 200).length
    expect(enrolled).toBeLessThanOrEqual(ENROL_LIMIT)
    expect(results.filter((r) => r.statusCode === 429).length).toBe(50 - enrolled)
    // Every enrolment that ran hashed ten recovery codes and wrote one audit entry: count them.
    const runs = (
      await f.app.database.db.selectFrom('audit_entries').select(['type', 'data']).execute()
    ).filter((e) => e.type === 'mfa.enrol' && JSON.parse(e.data).user_id === carol.user.id).length
    expect(runs * 10).toBeLessThanOrEqual(ENROL_LIMIT * 10)
  })
})
