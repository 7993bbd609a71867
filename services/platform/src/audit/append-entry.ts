// Appends one entry to the audit chain. Appends from every service and
// replica are serialised in the database, so the chain never forks: on
// PostgreSQL by a transaction-scoped advisory lock, on SQLite by the write
// lock every transaction takes up front (BEGIN IMMEDIATE, see sqlite-dialect).
// Within a process, appends that arrive together share one transaction
// (group commit, see group-commit.ts); each promise settles once its
// entry's transaction has committed.
import type { Compilable } from 'kysely'
import type { DatabaseHandle } from '../db/connect.ts'
import type { AuditEntryTable } from '../db/schema.ts'
import type { Precondition, Statement } from './batch.ts'
import { canonicalJson } from './entry-hash.ts'
import { groupCommitterOf } from './group-commit.ts'

export type AuditEntry = AuditEntryTable

export interface AuditEvent {
  type: string
  data: Record<string, unknown>
}

export interface AppendOptions {
  /**
   * Queries (built on the handle's `db`, not run) that must each find a row
   * in the entry's transaction, e.g. that the key a record names is still
   * current. Checked before anything of the entry is written; when one finds
   * nothing, the entry is left out and the append rejects with an
   * AuditPreconditionFailed carrying the given code.
   */
  requires?: ReadonlyArray<{ query: Compilable; code: string; message: string }>
  /**
   * Writes (built on the handle's `db`, not run) that commit with the entry
   * or not at all, e.g. the record the entry audits. They run in the entry's
   * transaction, in order, before the entry is linked.
   */
  writes?: readonly Compilable[]
}

const statementOf = (query: Compilable): Statement => {
  const { sql, parameters } = query.compile()
  return { sql, parameters }
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
    requires: (options.requires ?? []).map(
      (p): Precondition => ({ ...statementOf(p.query), code: p.code, message: p.message }),
    ),
    writes: (options.writes ?? []).map(statementOf),
  })
}
