// Opens a SQLite file as every connection to it must be opened: WAL (readers
// never wait for the writer), every commit synced to disk before it returns
// (synchronous = FULL: durable across a power loss, not only a crash),
// foreign keys on, a busy timeout for the write lock other processes hold.
// The service's own connection and the audit writer's thread share it.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { cachePreparedStatements } from './statement-cache.ts'

export const DEFAULT_BUSY_TIMEOUT_MS = 10_000

export function openSqlite(path: string, busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS): SQLite.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const database = new SQLite(path, { timeout: busyTimeoutMs })
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = FULL')
  database.pragma('foreign_keys = ON')
  return cachePreparedStatements(database)
}
