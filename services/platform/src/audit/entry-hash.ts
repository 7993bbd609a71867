// The chain's link. Version 1 (the first chains): SHA-256 of
// `prev_hash|type|data|timestamp`, which is not injective (a `|` inside the
// data can move bytes between fields). Version 2 (every new entry): SHA-256
// of a domain tag and each field length-prefixed, so two different entries
// never hash the same input. Each row records its version, so old chains
// still verify and a writer cannot turn a v2 entry back into v1 unnoticed
// (verification refuses a version going down).
import { createHash } from 'node:crypto'

export const GENESIS_HASH = '0'.repeat(64)

/** The version every new entry is written with. */
export const CURRENT_ENTRY_VERSION = 2

const V2_DOMAIN = 'docs-mesh.audit-entry.v2'

export interface HashedFields {
  version: number
  prev_hash: string
  type: string
  data: string
  created_at: string
}

/** Version 1, kept to verify the entries written before version 2. */
export function entryHashV1(prevHash: string, type: string, data: string, timestamp: string): string {
  return createHash('sha256').update(`${prevHash}|${type}|${data}|${timestamp}`).digest('hex')
}

/** Version 2: every field as a 4-byte big-endian byte length, then its UTF-8 bytes. */
export function entryHashV2(prevHash: string, type: string, data: string, timestamp: string): string {
  const hash = createHash('sha256')
  for (const field of [V2_DOMAIN, prevHash, type, data, timestamp]) {
    const bytes = Buffer.from(field, 'utf8')
    const length = Buffer.alloc(4)
    length.writeUInt32BE(bytes.length)
    hash.update(length).update(bytes)
  }
  return hash.digest('hex')
}

/** The hash an entry should carry under its recorded version; null for a version this code does not know. */
export function entryHash(entry: HashedFields): string | null {
  if (entry.version === 1) return entryHashV1(entry.prev_hash, entry.type, entry.data, entry.created_at)
  if (entry.version === 2) return entryHashV2(entry.prev_hash, entry.type, entry.data, entry.created_at)
  return null
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
