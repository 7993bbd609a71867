// Writes a group-commit batch (group-commit.ts) in a Kysely transaction on
// the handle's own connection: on PostgreSQL, whose commit is a network round
// trip during which the event loop runs anyway, and on an in-memory SQLite
// database, which the writer thread's second connection could not open. The
// chain's lock is PostgreSQL's transaction-scoped advisory lock, or SQLite's
// write lock (BEGIN IMMEDIATE, see sqlite-dialect.ts).
import { CompiledQuery, sql } from 'kysely'
import type { DatabaseHandle } from '../db/connect.ts'
import type { AuditEntryTable } from '../db/schema.ts'
import { type BatchItem, type BatchWriter, type ItemOutcome, type Statement, statementKey } from './batch.ts'
import { nextEntry } from './chain-link.ts'

// An arbitrary constant naming the audit chain's advisory lock.
const AUDIT_LOCK_KEY = 0x617564_6974

/** A batch in a Kysely transaction on the handle's own connection. */
export class KyselyBatchWriter implements BatchWriter {
  readonly #handle: DatabaseHandle

  constructor(handle: DatabaseHandle) {
    this.#handle = handle
  }

  write(batch: readonly BatchItem[]): Promise<ItemOutcome[]> {
    const handle = this.#handle
    return handle.db.transaction().execute(async (trx) => {
      if (handle.kind === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`.execute(trx)
      let previous = await trx
        .selectFrom('audit_entries')
        .select(['id', 'hash'])
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst()
      const found = new Map<string, boolean>()
      const outcomes: ItemOutcome[] = []
      const entries: AuditEntryTable[] = []
      for (const item of batch) {
        let failed = null
        for (const p of item.requires) {
          const key = statementKey(p)
          let ok = found.get(key)
          if (ok === undefined) {
            ok = (await trx.executeQuery(raw(p))).rows.length > 0
            found.set(key, ok)
          }
          if (!ok) {
            failed = p
            break
          }
        }
        if (failed) {
          outcomes.push({ refused: { code: failed.code, message: failed.message } })
          continue
        }
        for (const w of item.writes) await trx.executeQuery(raw(w))
        const entry = nextEntry(previous, item.type, item.data)
        entries.push(entry)
        outcomes.push({ entry })
        previous = entry
      }
      if (entries.length > 0) await trx.insertInto('audit_entries').values(entries).execute()
      return outcomes
    })
  }

  async close(): Promise<void> {}
}

const raw = (s: Statement) => CompiledQuery.raw(s.sql, [...s.parameters])
