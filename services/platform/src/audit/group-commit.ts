// Group commit for the audit chain: appends that arrive while a transaction
// is being written wait and go together in the next one. One transaction
// (one fsync on SQLite, one commit round trip on PostgreSQL) then carries
// many entries instead of one, which is what bounded POST /sign.
//
// What it keeps:
// - One total order. A batch takes the chain's lock (see append-entry.ts),
//   reads the head and links its entries in the order they were asked for;
//   batches of one process run one after another, other processes'
//   transactions interleave between whole batches.
// - Durability before the answer. A caller's promise settles only after the
//   batch's transaction has committed (or failed): nobody is told an entry
//   exists that the database does not hold.
// - Failure isolation. When anything in a batch fails, the whole transaction
//   rolls back (nothing of it reaches the chain) and each entry is tried
//   again in a transaction of its own, so only the one at fault fails and
//   its batch-mates are written as if they had come alone.
import { type Kysely, sql } from 'kysely'
import type { DatabaseHandle } from '../db/connect.ts'
import type { AuditEntryTable, Database } from '../db/schema.ts'
import { CURRENT_ENTRY_VERSION, entryHashV2, GENESIS_HASH } from './entry-hash.ts'

// An arbitrary constant naming the audit chain's advisory lock.
const AUDIT_LOCK_KEY = 0x617564_6974

/**
 * Entries per transaction at most: 7 bound parameters each, far below SQLite's
 * and PostgreSQL's limits for the one multi-row insert a batch ends with.
 */
export const MAX_BATCH = 256

export interface PendingAppend {
  type: string
  /** The payload as canonical JSON. */
  data: string
  /**
   * Writes that must commit with the entry or not at all (the record the
   * entry audits). Runs inside the batch's transaction, before the entry is
   * linked; it may run twice (a failed batch is retried entry by entry), so
   * it must write only through the db it is given.
   */
  with?: ((db: Kysely<Database>) => Promise<void>) | undefined
}

interface Waiter extends PendingAppend {
  resolve(entry: AuditEntryTable): void
  reject(error: unknown): void
}

export class GroupCommitter {
  readonly #handle: DatabaseHandle
  #queue: Waiter[] = []
  #scheduled = false

  constructor(handle: DatabaseHandle) {
    this.#handle = handle
  }

  append(item: PendingAppend): Promise<AuditEntryTable> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...item, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        // After this turn's I/O: every request read in the same poll phase
        // joins the batch. (better-sqlite3 runs a whole transaction without
        // yielding to I/O, so starting at once would always batch one.)
        setImmediate(() => void this.#drain())
      }
    })
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH)
      await this.#commit(batch)
    }
    this.#scheduled = false
  }

  async #commit(batch: Waiter[]): Promise<void> {
    let entries: AuditEntryTable[]
    try {
      entries = await this.#write(batch)
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error)
        return
      }
      // The transaction rolled back whole; each entry goes again alone, in
      // order, so only the one at fault fails.
      for (const waiter of batch) await this.#commit([waiter])
      return
    }
    for (const [i, waiter] of batch.entries()) waiter.resolve(entries[i] as AuditEntryTable)
  }

  #write(batch: Waiter[]): Promise<AuditEntryTable[]> {
    const handle = this.#handle
    return handle.db.transaction().execute(async (trx) => {
      if (handle.kind === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`.execute(trx)
      const head = await trx
        .selectFrom('audit_entries')
        .select(['id', 'hash'])
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst()
      let id = head?.id ?? 0
      let prevHash = head?.hash ?? GENESIS_HASH
      const entries: AuditEntryTable[] = []
      for (const item of batch) {
        if (item.with) await item.with(trx)
        const createdAt = new Date().toISOString()
        const hash = entryHashV2(prevHash, item.type, item.data, createdAt)
        entries.push({
          id: ++id,
          type: item.type,
          data: item.data,
          created_at: createdAt,
          prev_hash: prevHash,
          hash,
          version: CURRENT_ENTRY_VERSION,
        })
        prevHash = hash
      }
      await trx.insertInto('audit_entries').values(entries).execute()
      return entries
    })
  }
}

const committers = new WeakMap<DatabaseHandle, GroupCommitter>()

/** The one committer of a database handle: every append through the handle joins its batches. */
export function groupCommitterOf(handle: DatabaseHandle): GroupCommitter {
  let committer = committers.get(handle)
  if (!committer) {
    committer = new GroupCommitter(handle)
    committers.set(handle, committer)
  }
  return committer
}
