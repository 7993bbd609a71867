// At boot, waits for PostgreSQL to accept connections, retrying with back-off
// for a bounded time: on a fresh cluster the services start before the
// database does, and a service that exited on the first refused connection
// would crash-loop (and wait out Kubernetes' growing restart delays) instead
// of coming up as soon as the database does. Only errors that pass on their
// own are retried; a wrong password or a missing database fails at once.
import { sql } from 'kysely'
import type { DatabaseHandle } from './connect.ts'

export interface WaitForDatabaseOptions {
  /** How long to keep trying, in all. */
  timeoutMs: number
  /** The first pause; each next one doubles, up to maxDelayMs. */
  initialDelayMs?: number
  maxDelayMs?: number
  log: {
    warn(details: object, message: string): void
    info(details: object, message: string): void
  }
}

export class DatabaseUnreachableError extends Error {
  readonly code = 'ERR_DATABASE_UNREACHABLE'
}

// Node's socket errors while the server is not there yet, and PostgreSQL's
// connection exceptions (class 08) and cannot_connect_now (57P03: starting up,
// shutting down, recovering).
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
])
const isTransient = (code: string | undefined): boolean =>
  code !== undefined && (TRANSIENT.has(code) || code === '57P03' || code.startsWith('08'))

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown })?.code
  if (typeof code === 'string') return code
  // pg reports a refused connection to every address of a name as an AggregateError.
  const first = (error as { errors?: unknown[] })?.errors?.[0]
  return first === undefined ? undefined : codeOf(first)
}

export async function waitForDatabase(
  database: DatabaseHandle,
  options: WaitForDatabaseOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  const maxDelayMs = options.maxDelayMs ?? 5_000
  let delayMs = options.initialDelayMs ?? 250
  for (let attempt = 1; ; attempt++) {
    try {
      await sql`select 1`.execute(database.db)
      if (attempt > 1) options.log.info({ attempt }, `database reachable after ${attempt} attempts`)
      return
    } catch (error) {
      const code = codeOf(error)
      if (!isTransient(code)) throw error
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new DatabaseUnreachableError(
          `database not reachable after ${attempt} attempts in ${options.timeoutMs} ms (last error ${code})`,
          { cause: error },
        )
      }
      const pause = Math.min(delayMs, left)
      options.log.warn(
        { attempt, code, retryInMs: pause },
        `database not reachable yet (${code}), retrying in ${pause} ms`,
      )
      await new Promise((resolve) => setTimeout(resolve, pause))
      delayMs = Math.min(delayMs * 2, maxDelayMs)
    }
  }
}
