// Walks the whole audit chain and recomputes every link, each under the hash
// version its row records. A changed, removed or reordered row is reported
// with the id of the entry where the chain breaks; so is a version going down
// (a v2 entry relabelled v1 to use the ambiguous encoding) or one unknown.
import type { DatabaseHandle } from '../db/connect.ts'
import { entryHash, GENESIS_HASH } from './entry-hash.ts'

export type ChainBreakReason =
  | 'hash_mismatch'
  | 'prev_hash_mismatch'
  | 'id_gap'
  | 'unknown_version'
  | 'version_downgrade'

export interface ChainBreak {
  id: number
  reason: ChainBreakReason
}

export interface ChainVerification {
  valid: boolean
  entries: number
  head: { id: number; hash: string } | null
  /** The first entry at which the chain breaks, or null. */
  first_broken_id: number | null
  breaks: ChainBreak[]
}

const PAGE = 1000
const MAX_REPORTED_BREAKS = 100

export async function verifyAuditChain(handle: DatabaseHandle): Promise<ChainVerification> {
  const breaks: ChainBreak[] = []
  let entries = 0
  let prev = null as { id: number; hash: string } | null
  let highestVersion = 0
  for (;;) {
    const rows = await handle.db
      .selectFrom('audit_entries')
      .selectAll()
      .where('id', '>', prev?.id ?? 0)
      .orderBy('id', 'asc')
      .limit(PAGE)
      .execute()
    for (const row of rows) {
      entries++
      const expectedPrev = prev?.hash ?? GENESIS_HASH
      const expectedId: number = (prev?.id ?? 0) + 1
      if (row.id !== expectedId) breaks.push({ id: row.id, reason: 'id_gap' })
      if (row.prev_hash !== expectedPrev) breaks.push({ id: row.id, reason: 'prev_hash_mismatch' })
      const expected = entryHash(row)
      if (expected === null) breaks.push({ id: row.id, reason: 'unknown_version' })
      else if (row.version < highestVersion) breaks.push({ id: row.id, reason: 'version_downgrade' })
      else if (expected !== row.hash) breaks.push({ id: row.id, reason: 'hash_mismatch' })
      highestVersion = Math.max(highestVersion, row.version)
      prev = { id: row.id, hash: row.hash }
    }
    if (rows.length < PAGE) break
  }
  return {
    valid: breaks.length === 0,
    entries,
    head: prev,
    first_broken_id: breaks[0]?.id ?? null,
    breaks: breaks.slice(0, MAX_REPORTED_BREAKS),
  }
}
