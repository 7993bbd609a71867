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
// - Failure isolation. An entry whose precondition finds nothing is left out
//   (nothing of it is written) and fails alone. When a statement fails, the
//   whole transaction rolls back (nothing of it reaches the chain) and each
//   entry is tried again in a transaction of its own, so only the one at
//   fault fails and its batch-mates are written as if they had come alone.
//
// Where a batch is written: on a SQLite file, by a worker thread with its own
// connection (sqlite-writer-thread.ts), so the commit's fsync does not stop
// the event loop; on PostgreSQL (and an in-memory SQLite database, which no
// second connection can open), in a Kysely transaction on the handle, whose
// commit is a round trip during which the event loop runs anyway.
import type { DatabaseHandle } from '../db/connect.ts'
import type { AuditEntryTable } from '../db/schema.ts'
import { AuditPreconditionFailed, type BatchItem, type BatchWriter, type ItemOutcome } from './batch.ts'
import { KyselyBatchWriter } from './kysely-batch-writer.ts'
import { SqliteWriterThread } from './sqlite-writer-thread.ts'

/**
 * Entries per transaction at most: 7 bound parameters each, far below SQLite's
 * and PostgreSQL's limits for the one multi-row insert a Kysely batch ends with.
 */
export const MAX_BATCH = 256

interface Waiter extends BatchItem {
  resolve(entry: AuditEntryTable): void
  reject(error: unknown): void
}

export class GroupCommitter {
  readonly #writer: BatchWriter
  #queue: Waiter[] = []
  #draining: Promise<void> | null = null
  #closed = false

  constructor(writer: BatchWriter) {
    this.#writer = writer
  }

  /** The writer batches go to (the SQLite writer thread, for tests that make it crash). */
  get writer(): BatchWriter {
    return this.#writer
  }

  append(item: BatchItem): Promise<AuditEntryTable> {
    if (this.#closed) return Promise.reject(new Error('the database handle is closed'))
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...item, resolve, reject })
      // After this turn's I/O: every request read in the same poll phase
      // joins the batch (and on the handle's own SQLite connection, which
      // runs a whole transaction without yielding to I/O, starting at once
      // would always batch one).
      this.#draining ??= new Promise<void>((done) => setImmediate(done)).then(() => this.#drain())
    })
  }

  /** Resolves once everything queued has been written (or failed), then stops the writer. */
  async close(): Promise<void> {
    this.#closed = true
    while (this.#draining) await this.#draining
    await this.#writer.close()
  }

  async #drain(): Promise<void> {
    let batch = this.#next()
    let written = batch && this.#write(batch)
    while (batch && written) {
      let outcomes: ItemOutcome[] | null = null
      try {
        outcomes = await written
      } catch (error) {
        await this.#failed(batch, error)
      }
      // The next batch goes to the writer before this one's callers are
      // answered, so it commits while the event loop writes their responses.
      const done = batch
      batch = this.#next()
      written = batch && this.#write(batch)
      if (outcomes) this.#settle(done, outcomes)
    }
    this.#draining = null
  }

  #next(): Waiter[] | null {
    return this.#queue.length > 0 ? this.#queue.splice(0, MAX_BATCH) : null
  }

  // Async, so even a writer that throws (a thread that cannot start) fails the batch, not the drain.
  async #write(batch: Waiter[]): Promise<ItemOutcome[]> {
    return this.#writer.write(
      batch.map(({ type, data, requires, writes }) => ({ type, data, requires, writes })),
    )
  }

  #settle(batch: Waiter[], outcomes: ItemOutcome[]): void {
    for (const [i, waiter] of batch.entries()) {
      const outcome = outcomes[i] as ItemOutcome
      if ('entry' in outcome) waiter.resolve(outcome.entry)
      else waiter.reject(new AuditPreconditionFailed(outcome.refused.code, outcome.refused.message))
    }
  }

  /** A batch whose transaction failed (nothing of it committed), or whose writer died. */
  async #failed(batch: Waiter[], error: unknown): Promise<void> {
    // A writer that died may have committed the batch or not: fail it, never write it twice.
    if (batch.length === 1 || (error as { code?: unknown }).code === 'ERR_AUDIT_UNAVAILABLE') {
      for (const waiter of batch) waiter.reject(error)
      return
    }
    // The transaction rolled back whole; each entry goes again alone, in
    // order and before the next batch, so only the one at fault fails.
    for (const waiter of batch) {
      try {
        this.#settle([waiter], await this.#write([waiter]))
      } catch (alone) {
        await this.#failed([waiter], alone)
      }
    }
  }
}

const committers = new WeakMap<DatabaseHandle, GroupCommitter>()

/** The one committer of a database handle: every append through the handle joins its batches. */
export function groupCommitterOf(handle: DatabaseHandle): GroupCommitter {
  let committer = committers.get(handle)
  if (!committer) {
    const writer =
      handle.sqliteFile !== null
        ? new SqliteWriterThread(handle.sqliteFile, handle.busyTimeoutMs)
        : new KyselyBatchWriter(handle)
    const created = new GroupCommitter(writer)
    committer = created
    committers.set(handle, created)
    handle.onClose(() => created.close())
  }
  return committer
}
