// Opens the shared database: PostgreSQL for a postgres:// URL, otherwise a
// SQLite file (WAL, busy timeout) so development and tests need no server.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import type { Database } from './schema.ts'
import { CrossProcessSqliteDialect } from './sqlite-dialect.ts'
import { cachePreparedStatements } from './statement-cache.ts'

export type DatabaseKind = 'sqlite' | 'postgres'

export interface DatabaseHandle {
  db: Kysely<Database>
  kind: DatabaseKind
  /** Whether the database answers a trivial query. */
  ping(): Promise<boolean>
  close(): Promise<void>
}

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url)

export function connectDatabase(
  url: string,
  options: { poolSize?: number; busyTimeoutMs?: number } = {},
): DatabaseHandle {
  const kind: DatabaseKind = isPostgresUrl(url) ? 'postgres' : 'sqlite'
  const dialect =
    kind === 'postgres'
      ? new PostgresDialect({ pool: openPool(url, options.poolSize ?? 10) })
      : new CrossProcessSqliteDialect({
          database: async () => openSqlite(url, options.busyTimeoutMs ?? 10_000),
        })
  const db = new Kysely<Database>({ dialect })
  return {
    db,
    kind,
    async ping() {
      try {
        await sql`select 1`.execute(db)
        return true
      } catch {
        return false
      }
    },
    close: () => db.destroy(),
  }
}

function openPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max })
  // An idle client that loses its server (restart, failover) must not crash
  // the process; the pool drops it and the next query reconnects.
  pool.on('error', () => {})
  return pool
}

function openSqlite(path: string, busyTimeoutMs: number): SQLite.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const database = new SQLite(path, { timeout: busyTimeoutMs })
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = FULL')
  database.pragma('foreign_keys = ON')
  return cachePreparedStatements(database)
}
