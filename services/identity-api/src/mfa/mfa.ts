// TOTP MFA for a user: enrolment (a pending secret until the first good code),
// verification with replay refusal, and the lockout: five failures in a row
// lock the account's MFA for fifteen minutes, whatever session they came from.
// Each attempt is counted before its code is checked (one conditional UPDATE),
// so guesses sent in parallel cannot all be judged before the lock falls.
import { randomUUID } from 'node:crypto'
import { appendAuditEntry, type DatabaseHandle, HttpProblem, open, seal } from '@docs-mesh/platform'
import { sql } from 'kysely'
import QRCode from 'qrcode'
import {
  hashRecoveryCode,
  newRecoveryCode,
  RECOVERY_CODE_COUNT,
  recoveryCodeMatches,
} from './recovery-codes.ts'
import { matchTotp, newTotpSecret, totpUri } from './totp.ts'

export const MAX_FAILURES = 5
export const LOCKOUT_MS = 15 * 60_000

export interface Enrolment {
  secret: string
  otpauth_uri: string
  qr_code: string
  recovery_codes: string[]
}

export interface MfaOptions {
  kek: Buffer
  now?: () => Date
}

export type MfaProof = { code: string } | { recoveryCode: string }

export function createMfa(handle: DatabaseHandle, options: MfaOptions) {
  const now = options.now ?? (() => new Date())
  const aad = (userId: string) => `mfa:${userId}`

  /**
   * Takes one attempt from the account's budget before any code is checked,
   * in one conditional UPDATE: of any number of guesses sent at once, at most
   * MAX_FAILURES get a row back; the rest are refused unseen. An expired lock
   * starts a fresh budget. Returns null when the budget is spent.
   */
  async function reserveAttempt(userId: string) {
    const at = now().toISOString()
    return handle.db
      .updateTable('mfa_credentials')
      .set({
        failed_attempts: sql<number>`case when locked_until is not null then 1 else failed_attempts + 1 end`,
        locked_until: null,
      })
      .where('user_id', '=', userId)
      .where((eb) =>
        eb.or([
          eb.and([eb('locked_until', 'is', null), eb('failed_attempts', '<', MAX_FAILURES)]),
          eb('locked_until', '<=', at),
        ]),
      )
      .returning(['failed_attempts', 'secret_encrypted', 'enabled_at'])
      .executeTakeFirst()
  }

  /** Why no attempt was left: not enrolled (409) or locked (429). */
  async function refuse(userId: string, sessionId: string): Promise<never> {
    const credential = await handle.db
      .selectFrom('mfa_credentials')
      .select(['locked_until'])
      .where('user_id', '=', userId)
      .executeTakeFirst()
    if (!credential) throw new HttpProblem(409, 'ERR_MFA_NOT_ENROLLED', 'set up MFA first')
    if (credential.locked_until) throw lockedProblem(new Date(credential.locked_until))
    // The budget is spent by attempts still being judged (or by a process that died
    // while judging one): lock now, so the account cannot stay stuck without a lock.
    return lockOut(userId, sessionId)
  }

  async function lockOut(userId: string, sessionId: string): Promise<never> {
    const until = new Date(now().getTime() + LOCKOUT_MS)
    const locked = await handle.db
      .updateTable('mfa_credentials')
      .set({ locked_until: until.toISOString() })
      .where('user_id', '=', userId)
      .where('locked_until', 'is', null)
      .where('failed_attempts', '>=', MAX_FAILURES)
      .executeTakeFirst()
    if (locked.numUpdatedRows === 1n) {
      await appendAuditEntry(handle, {
        type: 'mfa.lockout',
        data: { user_id: userId, session_id: sessionId, locked_until: until.toISOString() },
      })
      throw lockedProblem(until)
    }
    const current = await handle.db
      .selectFrom('mfa_credentials')
      .select(['locked_until'])
      .where('user_id', '=', userId)
      .executeTakeFirst()
    throw lockedProblem(current?.locked_until ? new Date(current.locked_until) : until)
  }

  /** An attempt refused before any code was checked does not count. */
  async function giveBack(userId: string): Promise<void> {
    await handle.db
      .updateTable('mfa_credentials')
      .set({ failed_attempts: sql<number>`failed_attempts - 1` })
      .where('user_id', '=', userId)
      .where('failed_attempts', '>', 0)
      .execute()
  }

  /** A reserved attempt that failed: it already counts; the last one of the budget locks. */
  async function fail(userId: string, sessionId: string, attempt: number, reason: string): Promise<never> {
    await appendAuditEntry(handle, {
      type: 'mfa.verify_failed',
      data: { user_id: userId, session_id: sessionId, reason, failed_attempts: attempt },
    })
    if (attempt >= MAX_FAILURES) return lockOut(userId, sessionId)
    throw new HttpProblem(
      400,
      reason === 'replayed' ? 'ERR_MFA_CODE_USED' : 'ERR_MFA_CODE_INVALID',
      `${reason === 'replayed' ? 'that code was already used' : 'that code is not right'}; ${MAX_FAILURES - attempt} attempts left before a ${LOCKOUT_MS / 60_000}-minute lockout`,
    )
  }

  function lockedProblem(until: Date): HttpProblem {
    const seconds = Math.max(1, Math.ceil((until.getTime() - now().getTime()) / 1000))
    return new HttpProblem(429, 'ERR_MFA_LOCKED', `too many wrong codes; try again in ${seconds} s`, {
      headers: { 'retry-after': String(seconds) },
    })
  }

  return {
    async status(userId: string): Promise<{ enrolled: boolean; pending: boolean }> {
      const row = await handle.db
        .selectFrom('mfa_credentials')
        .select(['enabled_at'])
        .where('user_id', '=', userId)
        .executeTakeFirst()
      return { enrolled: row?.enabled_at != null, pending: row !== undefined && row.enabled_at === null }
    },

    /** A new secret and recovery codes; refused once an enrolment is confirmed. */
    async enrol(userId: string, accountName: string): Promise<Enrolment> {
      const secret = newTotpSecret()
      const recoveryCodes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode)
      const hashes = await Promise.all(recoveryCodes.map(hashRecoveryCode))
      const at = now().toISOString()
      await handle.db.transaction().execute(async (trx) => {
        const existing = await trx
          .selectFrom('mfa_credentials')
          .select(['enabled_at'])
          .where('user_id', '=', userId)
          .executeTakeFirst()
        if (existing?.enabled_at)
          throw new HttpProblem(409, 'ERR_MFA_ENROLLED', 'MFA is already set up for this account')
        const sealed = seal(options.kek, Buffer.from(secret), aad(userId))
        if (existing) {
          await trx
            .updateTable('mfa_credentials')
            .set({ secret_encrypted: sealed, created_at: at, last_used_step: null })
            .where('user_id', '=', userId)
            .execute()
        } else {
          await trx
            .insertInto('mfa_credentials')
            .values({
              user_id: userId,
              secret_encrypted: sealed,
              created_at: at,
              enabled_at: null,
              last_used_step: null,
              failed_attempts: 0,
              locked_until: null,
            })
            .execute()
        }
        await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
        await trx
          .insertInto('recovery_codes')
          .values(
            hashes.map((code_hash) => ({
              id: randomUUID(),
              user_id: userId,
              code_hash,
              created_at: at,
              used_at: null,
            })),
          )
          .execute()
      })
      await appendAuditEntry(handle, { type: 'mfa.enrol', data: { user_id: userId } })
      const uri = totpUri(secret, accountName)
      return {
        secret,
        otpauth_uri: uri,
        qr_code: await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 256 }),
        recovery_codes: recoveryCodes,
      }
    },

    /** Checks a TOTP or recovery code and marks the session MFA-verified. */
    async verify(
      userId: string,
      sessionId: string,
      proof: MfaProof,
    ): Promise<{ method: 'totp' | 'recovery_code'; recovery_codes_left: number }> {
      const credential = await reserveAttempt(userId)
      if (!credential) return refuse(userId, sessionId)
      const attempt = Number(credential.failed_attempts)

      const at = now()
      let method: 'totp' | 'recovery_code'
      if ('code' in proof) {
        method = 'totp'
        const secret = open(options.kek, credential.secret_encrypted, aad(userId)).toString()
        const step = matchTotp(secret, proof.code, at.getTime())
        if (step === null) return fail(userId, sessionId, attempt, 'wrong_code')
        // Atomic: of two requests with the same code, one moves last_used_step and the other finds it moved.
        const taken = await handle.db
          .updateTable('mfa_credentials')
          .set({ last_used_step: step })
          .where('user_id', '=', userId)
          .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
          .executeTakeFirst()
        if (taken.numUpdatedRows !== 1n) return fail(userId, sessionId, attempt, 'replayed')
      } else {
        method = 'recovery_code'
        if (!credential.enabled_at) {
          await giveBack(userId)
          throw new HttpProblem(
            409,
            'ERR_MFA_NOT_ENROLLED',
            'confirm the enrolment with a code from the app first',
          )
        }
        const unused = await handle.db
          .selectFrom('recovery_codes')
          .select(['id', 'code_hash'])
          .where('user_id', '=', userId)
          .where('used_at', 'is', null)
          .execute()
        let matched: string | null = null
        for (const row of unused) {
          if (await recoveryCodeMatches(proof.recoveryCode, row.code_hash)) matched = row.id
        }
        if (!matched) return fail(userId, sessionId, attempt, 'wrong_recovery_code')
        const used = await handle.db
          .updateTable('recovery_codes')
          .set({ used_at: at.toISOString() })
          .where('id', '=', matched)
          .where('used_at', 'is', null)
          .executeTakeFirst()
        if (used.numUpdatedRows !== 1n) return fail(userId, sessionId, attempt, 'replayed')
      }

      const confirmed = credential.enabled_at === null
      await handle.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('mfa_credentials')
          .set({
            failed_attempts: 0,
            locked_until: null,
            enabled_at: credential.enabled_at ?? at.toISOString(),
          })
          .where('user_id', '=', userId)
          .execute()
        await trx
          .updateTable('sessions')
          .set({ mfa_verified_at: at.toISOString() })
          .where('id', '=', sessionId)
          .execute()
      })
      const left = await handle.db
        .selectFrom('recovery_codes')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .executeTakeFirstOrThrow()
      await appendAuditEntry(handle, {
        type: 'mfa.verify',
        data: { user_id: userId, session_id: sessionId, method, enrolment_confirmed: confirmed },
      })
      return { method, recovery_codes_left: Number(left.n) }
    },
  }
}

export type Mfa = ReturnType<typeof createMfa>
