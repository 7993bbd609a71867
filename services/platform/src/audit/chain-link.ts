// One link of the audit chain: the entry that follows `previous` (the head,
// or nothing for a fresh chain), stamped now and hashed under the current
// encoding. Both batch writers (Kysely's transaction, the SQLite writer
// thread) link with this, so the two cannot drift apart.
import type { AuditEntryTable } from '../db/schema.ts'
import { CURRENT_ENTRY_VERSION, entryHashV2, GENESIS_HASH } from './entry-hash.ts'

export interface ChainHead {
  id: number
  hash: string
}

export function nextEntry(previous: ChainHead | undefined, type: string, data: string): AuditEntryTable {
  const prevHash = previous?.hash ?? GENESIS_HASH
  const createdAt = new Date().toISOString()
  return {
    id: (previous?.id ?? 0) + 1,
    type,
    data,
    created_at: createdAt,
    prev_hash: prevHash,
    hash: entryHashV2(prevHash, type, data, createdAt),
    version: CURRENT_ENTRY_VERSION,
  }
}
