// RFC 6238 time-based one-time passwords (otpauth): 30-second steps, six
// digits, HMAC-SHA1 as every authenticator app supports, one step of drift
// either way. A check returns the time step the code belongs to, so the
// caller can refuse a code whose step was already used.
import * as OTPAuth from 'otpauth'

export const TOTP_PERIOD_SECONDS = 30

export interface TotpParameters {
  digits?: number
  algorithm?: 'SHA1' | 'SHA256' | 'SHA512'
}

export function newTotpSecret(): string {
  return new OTPAuth.Secret({ size: 20 }).base32
}

function totp(secretBase32: string, parameters: TotpParameters = {}, label = 'user'): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer: 'docs-mesh',
    label,
    algorithm: parameters.algorithm ?? 'SHA1',
    digits: parameters.digits ?? 6,
    period: TOTP_PERIOD_SECONDS,
    secret: OTPAuth.Secret.fromBase32(secretBase32),
  })
}

/** The otpauth:// URI an authenticator app scans. */
export function totpUri(secretBase32: string, accountName: string): string {
  return totp(secretBase32, {}, accountName).toString()
}

export function totpCode(secretBase32: string, timestampMs: number, parameters?: TotpParameters): string {
  return totp(secretBase32, parameters).generate({ timestamp: timestampMs })
}

export const timeStep = (timestampMs: number): number => Math.floor(timestampMs / 1000 / TOTP_PERIOD_SECONDS)

/** The step the code is valid for (now, one before or one after), or null. */
export function matchTotp(
  secretBase32: string,
  code: string,
  timestampMs: number,
  parameters?: TotpParameters,
): number | null {
  const delta = totp(secretBase32, parameters).validate({ token: code, timestamp: timestampMs, window: 1 })
  return delta === null ? null : timeStep(timestampMs) + delta
}
