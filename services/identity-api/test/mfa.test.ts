// TOTP MFA: RFC 6238's own test vectors, enrolment, verification with drift
// and replay refusal, the lockout, and recovery codes.
import { open, parseKeyEncryptionKey } from '@docs-mesh/platform'
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import * as OTPAuth from 'otpauth'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { hashRecoveryCode, recoveryCodeMatches } from '../src/mfa/recovery-codes.ts'
import { matchTotp, totpCode } from '../src/mfa/totp.ts'
import { type IdentityFixture, startIdentityFixture } from './fixture.ts'

const base32 = (ascii: string) => OTPAuth.Secret.fromLatin1(ascii).base32

describe('RFC 6238 Appendix B', () => {
  const secrets = {
    SHA1: base32('12345678901234567890'),
    SHA256: base32('12345678901234567890123456789012'),
    SHA512: base32('1234567890123456789012345678901234567890123456789012345678901234'),
  } as const
  const vectors: Array<[number, string, keyof typeof secrets]> = [
    [59, '94287082', 'SHA1'],
    [59, '46119246', 'SHA256'],
    [59, '90693936', 'SHA512'],
    [1111111109, '07081804', 'SHA1'],
    [1111111109, '68084774', 'SHA256'],
    [1111111109, '25091201', 'SHA512'],
    [1111111111, '14050471', 'SHA1'],
    [1111111111, '67062674', 'SHA256'],
    [1111111111, '99943326', 'SHA512'],
    [1234567890, '89005924', 'SHA1'],
    [1234567890, '91819424', 'SHA256'],
    [1234567890, '93441116', 'SHA512'],
    [2000000000, '69279037', 'SHA1'],
    [2000000000, '90698825', 'SHA256'],
    [2000000000, '38618901', 'SHA512'],
    [20000000000, '65353130', 'SHA1'],
    [20000000000, '77737706', 'SHA256'],
    [20000000000, '47863826', 'SHA512'],
  ]
  it.each(vectors)('at T=%i the code is %s (%s)', (seconds, code, algorithm) => {
    const parameters = { digits: 8, algorithm }
    expect(totpCode(secrets[algorithm], seconds * 1000, parameters)).toBe(code)
    expect(matchTotp(secrets[algorithm], code, seconds * 1000, parameters)).toBe(Math.floor(seconds / 30))
  })

  it('accepts one step of drift either way, and no more', () => {
    const secret = secrets.SHA1
    const t = 1_700_000_000_000
    expect(matchTotp(secret, totpCode(secret, t - 30_000), t)).toBe(Math.floor(t / 30_000) - 1)
    expect(matchTotp(secret, totpCode(secret, t + 30_000), t)).toBe(Math.floor(t / 30_000) + 1)
    expect(matchTotp(secret, totpCode(secret, t - 60_000), t)).toBeNull()
    expect(matchTotp(secret, totpCode(secret, t + 60_000), t)).toBeNull()
  })
})

describe('recovery code hashes', () => {
  it('are Argon2id PHC strings that match only their own code', async () => {
    const hash = await hashRecoveryCode('abcde-fghjk')
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
    expect(await recoveryCodeMatches('ABCDE-FGHJK ', hash)).toBe(true)
    expect(await recoveryCodeMatches('abcde-fghjm', hash)).toBe(false)
    expect(await recoveryCodeMatches('abcde-fghjk', 'not a hash')).toBe(false)
  })
})

describe.each(testDatabaseKinds(process.env))('MFA on %s', (kind) => {
  // A fresh database and provider for every test: each test's people start
  // unenrolled whatever ran before it (the suite passes under --sequence.shuffle).
  let f: IdentityFixture
  beforeEach(async () => {
    f = await startIdentityFixture(kind)
  })
  afterEach(() => f.close())

  const enrol = (token: string) =>
    f.app.inject({ method: 'POST', url: '/auth/mfa/enroll', headers: f.bearer(token) })
  const verify = (token: string, body: object) =>
    f.app.inject({ method: 'POST', url: '/auth/mfa/verify', headers: f.bearer(token), payload: body })
  const me = async (token: string) =>
    (await f.app.inject({ url: '/auth/me', headers: f.bearer(token) })).json()

  it('enrols: secret, otpauth URI, QR code and ten recovery codes; the secret is sealed at rest', async () => {
    const alice = await f.signIn('alice')
    const res = await enrol(alice.token)
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const body = res.json()
    expect(body.secret).toMatch(/^[A-Z2-7]{32}$/)
    const uri = new URL(body.otpauth_uri)
    expect(uri.protocol).toBe('otpauth:')
    expect(uri.searchParams.get('secret')).toBe(body.secret)
    expect(uri.searchParams.get('issuer')).toBe('docs-mesh')
    expect(decodeURIComponent(uri.pathname)).toContain('alice@docs-mesh.localhost')
    expect(body.qr_code).toMatch(/^data:image\/png;base64,/)
    expect(Buffer.from(body.qr_code.split(',')[1], 'base64').subarray(1, 4).toString()).toBe('PNG')
    expect(new Set(body.recovery_codes).size).toBe(10)

    const row = await f.app.database.db
      .selectFrom('mfa_credentials')
      .selectAll()
      .where('user_id', '=', alice.user.id)
      .executeTakeFirstOrThrow()
    expect(row.secret_encrypted).not.toContain(body.secret)
    expect(open(parseKeyEncryptionKey(f.kek), row.secret_encrypted, `mfa:${alice.user.id}`).toString()).toBe(
      body.secret,
    )
    const hashes = await f.app.database.db
      .selectFrom('recovery_codes')
      .select('code_hash')
      .where('user_id', '=', alice.user.id)
      .execute()
    expect(hashes).toHaveLength(10)
    for (const { code_hash } of hashes)
      for (const code of body.recovery_codes) expect(code_hash).not.toContain(code)
    expect(await me(alice.token)).toMatchObject({ mfa: { enrolled: false, pending: true } })
  })

  it('verifies a code: the session is MFA-verified, the enrolment confirmed; the same code is refused after', async () => {
    const bob = await f.signIn('bob')
    const { secret } = (await enrol(bob.token)).json()
    const code = totpCode(secret, Date.now())
    const ok = await verify(bob.token, { code })
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toEqual({ mfa_verified: true, method: 'totp', recovery_codes_left: 10 })
    expect(await me(bob.token)).toMatchObject({
      session: { mfa_verified: true },
      mfa: { enrolled: true, pending: false },
    })

    const again = await verify(bob.token, { code })
    expect(again.statusCode).toBe(400)
    expect(again.json()).toMatchObject({ code: 'ERR_MFA_CODE_USED' })

    // Confirmed now: enrolling again would let a stolen session replace the factor.
    expect((await enrol(bob.token)).json()).toMatchObject({ status: 409, code: 'ERR_MFA_ENROLLED' })
    // A new session starts without MFA.
    const later = await f.signIn('bob')
    expect(await me(later.token)).toMatchObject({ session: { mfa_verified: false }, mfa: { enrolled: true } })
  })

  it('locks MFA for 15 minutes after five wrong codes, with 429 and Retry-After, even for the right code', async () => {
    const carol = await f.signIn('carol')
    const { secret } = (await enrol(carol.token)).json()
    const right = totpCode(secret, Date.now())
    const wrong = String((Number(right) + 500_000) % 1_000_000).padStart(6, '0')
    for (let i = 1; i <= 4; i++) {
      const res = await verify(carol.token, { code: wrong })
      expect(res.statusCode).toBe(400)
      expect(res.json()).toMatchObject({
        code: 'ERR_MFA_CODE_INVALID',
        detail: expect.stringContaining(`${5 - i} attempts left`),
      })
    }
    const fifth = await verify(carol.token, { code: wrong })
    expect(fifth.statusCode).toBe(429)
    expect(fifth.json()).toMatchObject({ code: 'ERR_MFA_LOCKED' })
    const retryAfter = Number(fifth.headers['retry-after'])
    expect(retryAfter).toBeGreaterThan(14 * 60)
    expect(retryAfter).toBeLessThanOrEqual(15 * 60)

    const locked = await verify(carol.token, { code: right })
    expect(locked.statusCode).toBe(429)
    expect(await me(carol.token)).toMatchObject({ session: { mfa_verified: false } })
    // The lockout is the account's, not the session's.
    const other = await f.signIn('carol')
    expect((await verify(other.token, { code: right })).statusCode).toBe(429)

    const types = (await f.app.database.db.selectFrom('audit_entries').select(['type', 'data']).execute())
      .filter((e) => JSON.parse(e.data).user_id === carol.user.id)
      .map((e) => e.type)
    expect(types).toContain('mfa.lockout')
    expect(types.filter((t) => t === 'mfa.verify_failed')).toHaveLength(5)

    // Fifteen minutes later (the lock moved into the past) the right code works.
    await f.app.database.db
      .updateTable('mfa_credentials')
      .set({ locked_until: new Date(Date.now() - 1000).toISOString() })
      .where('user_id', '=', carol.user.id)
      .execute()
    expect((await verify(carol.token, { code: totpCode(secret, Date.now()) })).statusCode).toBe(200)
  })

  it('takes each recovery code once, and only once the enrolment is confirmed', async () => {
    const user = await f.signIn('alice')
    // Enrolled but not yet confirmed: recovery codes are refused until a TOTP code confirms it.
    const { secret, recovery_codes } = (await enrol(user.token)).json()
    const early = await verify(user.token, { recovery_code: recovery_codes[0] })
    expect(early.json()).toMatchObject({ status: 409, code: 'ERR_MFA_NOT_ENROLLED' })
    expect((await verify(user.token, { code: totpCode(secret, Date.now()) })).statusCode).toBe(200)

    const next = await f.signIn('alice')
    const used = await verify(next.token, { recovery_code: recovery_codes[3].toUpperCase() })
    expect(used.statusCode).toBe(200)
    expect(used.json()).toEqual({ mfa_verified: true, method: 'recovery_code', recovery_codes_left: 9 })
    const third = await f.signIn('alice')
    const reused = await verify(third.token, { recovery_code: recovery_codes[3] })
    expect(reused.json()).toMatchObject({ status: 400, code: 'ERR_MFA_CODE_INVALID' })
  })

  it('refuses malformed proofs with 400 and verifying before enrolment with 409', async () => {
    const bob = await f.signIn('bob')
    for (const body of [
      {},
      { code: '12345' },
      { code: 'abcdef' },
      { code: '123456', recovery_code: 'abcde-fghjk' },
      { code: '123456', extra: 1 },
    ]) {
      const res = await verify(bob.token, body)
      expect(res.statusCode).toBe(400)
      expect(res.headers['content-type']).toMatch(/problem\+json/)
    }
    // carol has never enrolled in this test's system.
    const fresh = await f.signIn('carol')
    expect((await verify(fresh.token, { code: '123456' })).json()).toMatchObject({
      status: 409,
      code: 'ERR_MFA_NOT_ENROLLED',
    })
  })

  it('needs a session', async () => {
    expect((await f.app.inject({ method: 'POST', url: '/auth/mfa/enroll' })).statusCode).toBe(401)
    expect(
      (await f.app.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { code: '123456' } }))
        .statusCode,
    ).toBe(401)
  })
})
