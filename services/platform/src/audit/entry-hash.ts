// The chain's link: hash = SHA-256(prev_hash | type | data | timestamp), hex.
import { createHash } from 'node:crypto'

export const GENESIS_HASH = '0'.repeat(64)

export function entryHash(prevHash: string, type: string, data: string, timestamp: string): string {
  return createHash('sha256').update(`${prevHash}|${type}|${data}|${timestamp}`).digest('hex')
}

/** JSON with object keys sorted, so the same payload always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  )
}

/** SHA-256 (hex) of a statement's canonical JSON: what the platform signs for receipts and key attestations. */
export const statementDigest = (statement: Record<string, unknown>): string =>
  createHash('sha256').update(canonicalJson(statement)).digest('hex')
