// Appends one entry to the audit chain. Appends from every service and
// replica are serialised in the database, so the chain never forks: on
// PostgreSQL by a transaction-scoped advisory lock, on SQLite by the write
// lock every transaction takes up front (BEGIN IMMEDIATE, see sqlite-dialect).
// Within a process, appends that arrive together share one transaction
// (group commit, see group-commit.ts); each promise settles once its
// entry's transaction has committed.
import type { Kysely } from 'kysely'
import type { DatabaseHandle } from '../db/connect.ts'
import type { AuditEntryTable, Database } from '../db/schema.ts'
import { canonicalJson } from './entry-hash.ts'
import { groupCommitterOf } from './group-commit.ts'

export type AuditEntry = AuditEntryTable

export interface AuditEvent {
  type: string
  data: Record<string, unknown>
}

export interface AppendOptions {
  /**
   * Writes that commit with the entry or not at all, e.g. the record the
   * entry audits. Runs in the entry's transaction before the entry; it may
   * run more than once (see group-commit.ts), so write only through `db`.
   */
  with?: (db: Kysely<Database>) => Promise<void>
}

export async function appendAuditEntry(
  handle: DatabaseHandle,
  event: AuditEvent,
  options: AppendOptions = {},
): Promise<AuditEntry> {
  if (!/^[a-z][a-z0-9_.-]{0,99}$/.test(event.type)) {
    throw Object.assign(new Error(`invalid audit entry type: ${event.type}`), { code: 'ERR_AUDIT_TYPE' })
  }
  return groupCommitterOf(handle).append({
    type: event.type,
    data: canonicalJson(event.data),
    with: options.with,
  })
}
