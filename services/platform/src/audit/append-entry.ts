// Appends one entry to the audit chain. Appends from every service and
// replica are serialised in the database, so the chain never forks: on
// PostgreSQL by a transaction-scoped advisory lock, on SQLite by the write
// lock every transaction takes up front (BEGIN IMMEDIATE, see sqlite-dialect).
import { type Kysely, sql } from 'kysely'
import type { DatabaseHandle } from '../db/connect.ts'
import type { AuditEntryTable, Database } from '../db/schema.ts'
import { CURRENT_ENTRY_VERSION, canonicalJson, entryHashV2, GENESIS_HASH } from './entry-hash.ts'

// An arbitrary constant naming the audit chain's advisory lock.
const AUDIT_LOCK_KEY = 0x617564_6974

export type AuditEntry = AuditEntryTable

export interface AuditEvent {
  type: string
  data: Record<string, unknown>
}

export async function appendAuditEntry(handle: DatabaseHandle, event: AuditEvent): Promise<AuditEntry> {
  if (!/^[a-z][a-z0-9_.-]{0,99}$/.test(event.type)) {
    throw Object.assign(new Error(`invalid audit entry type: ${event.type}`), { code: 'ERR_AUDIT_TYPE' })
  }
  const data = canonicalJson(event.data)
  return handle.db.transaction().execute(async (trx) => {
    if (handle.kind === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`.execute(trx)
    return insertNext(trx, event.type, data)
  })
}

async function insertNext(db: Kysely<Database>, type: string, data: string): Promise<AuditEntry> {
  const head = await db
    .selectFrom('audit_entries')
    .select(['id', 'hash'])
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst()
  const prevHash = head?.hash ?? GENESIS_HASH
  const createdAt = new Date().toISOString()
  const entry: AuditEntry = {
    id: (head?.id ?? 0) + 1,
    type,
    data,
    created_at: createdAt,
    prev_hash: prevHash,
    hash: entryHashV2(prevHash, type, data, createdAt),
    version: CURRENT_ENTRY_VERSION,
  }
  await db.insertInto('audit_entries').values(entry).execute()
  return entry
}
