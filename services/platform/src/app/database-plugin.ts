// Opens the shared database, waits for PostgreSQL to accept connections (a
// fresh cluster starts the services before it), runs the migration groups
// this service owns, and closes the database when the app closes.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { connectDatabase, type DatabaseHandle } from '../db/connect.ts'
import { migrateGroup } from '../db/migrate.ts'
import type { MigrationGroup } from '../db/migrations/index.ts'
import { waitForDatabase } from '../db/wait-for-database.ts'

declare module 'fastify' {
  interface FastifyInstance {
    database: DatabaseHandle
  }
}

// Below the kind overlay's startup probe (90 tries, 2 s apart), so the log says why before a restart would.
const CONNECT_TIMEOUT_MS = 150_000

export const databasePlugin = fp<{ url: string; owns: readonly MigrationGroup[]; connectTimeoutMs?: number }>(
  async (app: FastifyInstance, options) => {
    const database = connectDatabase(options.url)
    app.decorate('database', database)
    if (database.kind === 'postgres') {
      try {
        await waitForDatabase(database, {
          timeoutMs: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
          log: app.log,
        })
      } catch (error) {
        await database.close()
        throw error
      }
    }
    app.addHook('onClose', () => database.close())
    for (const group of options.owns) {
      const result = await migrateGroup(database, group)
      for (const r of result.results ?? []) app.log.info({ group, migration: r.migrationName }, 'migrated')
    }
  },
  { name: 'docs-mesh-database' },
)
