// Recovery codes: ten per enrolment, shown once, each good once. Stored as
// Argon2id hashes (node:crypto's argon2, OWASP's minimum parameters:
// 19 MiB, two passes, one lane) in the PHC string format.
import { argon2, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const argon2Async = promisify(argon2)

export const RECOVERY_CODE_COUNT = 10
const PARAMS = { memory: 19_456, passes: 2, parallelism: 1, tagLength: 32 }
// Crockford's base32 without the look-alikes I, L, O, U.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'

/** `xxxxx-xxxxx`: 50 bits each, enough for a code that also sits behind the MFA lockout. */
export function newRecoveryCode(): string {
  const chars = Array.from({ length: 10 }, () => ALPHABET[randomInt(ALPHABET.length)])
  return `${chars.slice(0, 5).join('')}-${chars.slice(5).join('')}`
}

export const normaliseRecoveryCode = (code: string): string => code.trim().toLowerCase().replace(/\s+/g, '')

// PHC strings use standard base64 without padding.
const b64 = (bytes: Buffer): string => bytes.toString('base64').replace(/=+$/, '')

export async function hashRecoveryCode(code: string): Promise<string> {
  const nonce = randomBytes(16)
  const tag = await argon2Async('argon2id', { message: normaliseRecoveryCode(code), nonce, ...PARAMS })
  return `$argon2id$v=19$m=${PARAMS.memory},t=${PARAMS.passes},p=${PARAMS.parallelism}$${b64(nonce)}$${b64(tag)}`
}

export async function recoveryCodeMatches(code: string, phc: string): Promise<boolean> {
  const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(phc)
  if (!match) return false
  const expected = Buffer.from(match[5] as string, 'base64')
  const tag = await argon2Async('argon2id', {
    message: normaliseRecoveryCode(code),
    nonce: Buffer.from(match[4] as string, 'base64'),
    memory: Number(match[1]),
    passes: Number(match[2]),
    parallelism: Number(match[3]),
    tagLength: expected.length,
  })
  return timingSafeEqual(tag, expected)
}
