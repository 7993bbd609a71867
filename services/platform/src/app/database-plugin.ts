// Opens the shared database, runs the migration groups this service owns,
// and closes the database when the app closes.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { connectDatabase, type DatabaseHandle } from '../db/connect.ts'
import { migrateGroup } from '../db/migrate.ts'
import type { MigrationGroup } from '../db/migrations/index.ts'

declare module 'fastify' {
  interface FastifyInstance {
    database: DatabaseHandle
  }
}

export const databasePlugin = fp<{ url: string; owns: readonly MigrationGroup[] }>(
  async (app: FastifyInstance, options) => {
    const database = connectDatabase(options.url)
    app.decorate('database', database)
    app.addHook('onClose', () => database.close())
    for (const group of options.owns) {
      const result = await migrateGroup(database, group)
      for (const r of result.results ?? []) app.log.info({ group, migration: r.migrationName }, 'migrated')
    }
  },
  { name: 'docs-mesh-database' },
)
