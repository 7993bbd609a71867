// Who may not sign in, through the real OpenID flow against the local
// provider: a disabled account, an e-mail address another subject already
// uses, and an address the provider has not verified. Each is refused at the
// callback, before any session or single-use code exists.
import { type LocalUser, SEEDED_USERS, scriptedBrowser, signInAtProvider } from '@docs-mesh/oidc-provider'
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CALLBACK, type IdentityFixture, startIdentityFixture } from './fixture.ts'

const person = (username: string, email: string, emailVerified?: boolean): LocalUser => ({
  sub: `subject-of-${username}`,
  username,
  password: `${username}-local-password`,
  email,
  name: `${username} Example`,
  ...(emailVerified === undefined ? {} : { emailVerified }),
})

const PEOPLE: readonly LocalUser[] = [
  ...SEEDED_USERS,
  // Another subject at the provider claiming alice's address.
  person('mallory', 'alice@docs-mesh.localhost'),
  person('dan', 'dan@docs-mesh.localhost', false),
  person('erin', 'erin@docs-mesh.localhost'),
]

describe.each(testDatabaseKinds(process.env))('sign-in guards on %s', (kind) => {
  let f: IdentityFixture
  beforeAll(async () => {
    f = await startIdentityFixture(kind, { AUTH_RATE_LIMIT_PER_MINUTE: '40' }, PEOPLE)
  })
  afterAll(() => f.close())

  /** The whole browser sign-in up to identity-api's answer at the callback. */
  async function callback(username: string) {
    const go = scriptedBrowser()
    const login = await go(`${f.appUrl}/auth/oidc/local/login`)
    const back = await signInAtProvider(
      go,
      login.headers.get('location') ?? '',
      { username, password: `${username}-local-password` },
      CALLBACK,
    )
    return go(f.gateway(back))
  }

  const db = () => f.app.database.db
  const sessionsOf = async (userId: string) =>
    (await db().selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).length
  const codeCount = async () => (await db().selectFrom('session_codes').select('code_hash').execute()).length

  it('refuses a disabled account at the callback, with no new session or code', async () => {
    const erin = await f.signIn('erin')
    await db()
      .updateTable('users')
      .set({ disabled_at: new Date().toISOString() })
      .where('id', '=', erin.user.id)
      .execute()
    const [sessions, codes] = [await sessionsOf(erin.user.id), await codeCount()]

    const res = await callback('erin')
    expect(res.status).toBe(403)
    expect(res.headers.get('content-type')).toMatch(/problem\+json/)
    expect(await res.json()).toMatchObject({ status: 403, code: 'ERR_ACCOUNT_DISABLED' })
    expect(res.headers.get('location')).toBeNull()
    expect(await sessionsOf(erin.user.id)).toBe(sessions)
    expect(await codeCount()).toBe(codes)
  })

  it("refuses another subject with an e-mail address already in use, leaving the owner's account alone", async () => {
    const alice = await f.signIn('alice')
    const codes = await codeCount()

    const res = await callback('mallory')
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({ status: 409, code: 'ERR_EMAIL_IN_USE' })
    expect(await codeCount()).toBe(codes)
    // No link from mallory's subject to alice's account, and alice is still alice.
    const links = await db()
      .selectFrom('oidc_links')
      .select(['subject', 'user_id'])
      .where('user_id', '=', alice.user.id)
      .execute()
    expect(links).toEqual([{ subject: 'alice', user_id: alice.user.id }])
    const again = await f.signIn('alice')
    expect(again.user.id).toBe(alice.user.id)
  })

  it('refuses an e-mail address the provider has not verified, and makes no account for it', async () => {
    const codes = await codeCount()
    const res = await callback('dan')
    expect(res.status).toBe(403)
    expect(await res.json()).toMatchObject({ status: 403, code: 'ERR_EMAIL_UNVERIFIED' })
    expect(await codeCount()).toBe(codes)
    expect(
      await db().selectFrom('users').select('id').where('email', '=', 'dan@docs-mesh.localhost').execute(),
    ).toEqual([])
    expect(
      await db().selectFrom('oidc_links').select('user_id').where('subject', '=', 'subject-of-dan').execute(),
    ).toEqual([])
  })
})
