// The SQLite audit writer's thread (see sqlite-writer-thread.ts): it owns a
// connection of its own and writes each batch it is sent in one transaction,
// answering only after COMMIT returned, i.e. after the WAL was synced. The
// fsync blocks this thread, not the service's event loop.
import { parentPort, workerData } from 'node:worker_threads'
import { openSqlite } from '../db/open-sqlite.ts'
import type { BatchItem, ItemOutcome } from './batch.ts'
import { statementKey } from './batch.ts'
import { type ChainHead, nextEntry } from './chain-link.ts'

export interface WriterThreadData {
  file: string
  busyTimeoutMs: number
}

export type WriterRequest = { batch: readonly BatchItem[] } | { close: true }
export type WriterReply =
  | { outcomes: ItemOutcome[] }
  | { error: { message: string; code?: string | undefined } }
  | { closed: true }

const port = parentPort
if (!port) throw new Error('sqlite-writer-worker.ts runs as a worker thread')
const { file, busyTimeoutMs } = workerData as WriterThreadData
const db = openSqlite(file, busyTimeoutMs)
const head = db.prepare<[], ChainHead>('select id, hash from audit_entries order by id desc limit 1')
const insert = db.prepare(
  'insert into audit_entries (id, type, data, created_at, prev_hash, hash, version) values (?, ?, ?, ?, ?, ?, ?)',
)

/** The batch in one transaction under the chain's write lock (BEGIN IMMEDIATE); all of it or, on any error, none. */
function write(batch: readonly BatchItem[]): ItemOutcome[] {
  db.exec('begin immediate')
  try {
    let previous = head.get()
    const found = new Map<string, boolean>()
    const outcomes: ItemOutcome[] = []
    for (const item of batch) {
      const failed = item.requires.find((p) => {
        const key = statementKey(p)
        let ok = found.get(key)
        if (ok === undefined) {
          ok = db.prepare(p.sql).get(p.parameters) !== undefined
          found.set(key, ok)
        }
        return !ok
      })
      if (failed) {
        outcomes.push({ refused: { code: failed.code, message: failed.message } })
        continue
      }
      for (const w of item.writes) {
        const statement = db.prepare(w.sql)
        if (statement.reader) statement.all(w.parameters)
        else statement.run(w.parameters)
      }
      const entry = nextEntry(previous, item.type, item.data)
      insert.run(
        entry.id,
        entry.type,
        entry.data,
        entry.created_at,
        entry.prev_hash,
        entry.hash,
        entry.version,
      )
      outcomes.push({ entry })
      previous = entry
    }
    db.exec('commit')
    return outcomes
  } catch (error) {
    if (db.inTransaction) db.exec('rollback')
    throw error
  }
}

port.on('message', (request: WriterRequest) => {
  if ('close' in request) {
    db.close()
    port.postMessage({ closed: true } satisfies WriterReply)
    port.close()
    return
  }
  let reply: WriterReply
  try {
    reply = { outcomes: write(request.batch) }
  } catch (error) {
    const { message, code } = error as { message: string; code?: string }
    reply = { error: { message, code } }
  }
  port.postMessage(reply)
})
