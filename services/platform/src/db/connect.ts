// Opens the shared database: PostgreSQL for a postgres:// URL, otherwise a
// SQLite file (WAL, busy timeout) so development and tests need no server.
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { DEFAULT_BUSY_TIMEOUT_MS, openSqlite } from './open-sqlite.ts'
import type { Database } from './schema.ts'
import { CrossProcessSqliteDialect } from './sqlite-dialect.ts'

export type DatabaseKind = 'sqlite' | 'postgres'

export interface DatabaseHandle {
  db: Kysely<Database>
  kind: DatabaseKind
  /**
   * The SQLite file, for another connection to it (the audit writer's thread);
   * null on PostgreSQL and for an in-memory database, which no other connection can share.
   */
  sqliteFile: string | null
  busyTimeoutMs: number
  /** Whether the database answers a trivial query. */
  ping(): Promise<boolean>
  close(): Promise<void>
  /** Runs before the database closes, in the order added: what was built on the handle stops first. */
  onClose(hook: () => Promise<void>): void
}

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url)

export function connectDatabase(
  url: string,
  options: { poolSize?: number; busyTimeoutMs?: number } = {},
): DatabaseHandle {
  const kind: DatabaseKind = isPostgresUrl(url) ? 'postgres' : 'sqlite'
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS
  const dialect =
    kind === 'postgres'
      ? new PostgresDialect({ pool: openPool(url, options.poolSize ?? 10) })
      : new CrossProcessSqliteDialect({ database: async () => openSqlite(url, busyTimeoutMs) })
  const db = new Kysely<Database>({ dialect })
  const closing: Array<() => Promise<void>> = []
  let closed: Promise<void> | null = null
  return {
    db,
    kind,
    sqliteFile: kind === 'sqlite' && url !== ':memory:' ? url : null,
    busyTimeoutMs,
    async ping() {
      try {
        await sql`select 1`.execute(db)
        return true
      } catch {
        return false
      }
    },
    close() {
      closed ??= (async () => {
        for (const hook of closing) await hook()
        await db.destroy()
      })()
      return closed
    },
    onClose(hook) {
      closing.push(hook)
    },
  }
}

function openPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max })
  // An idle client that loses its server (restart, failover) must not crash
  // the process; the pool drops it and the next query reconnects.
  pool.on('error', () => {})
  return pool
}
