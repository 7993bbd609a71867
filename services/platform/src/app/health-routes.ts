// GET /health says the process is alive; GET /health/ready says it can serve:
// the database answers, the tables it owns and reads exist, and every
// dependency the service registered is reachable.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import Type from 'typebox'
import { isGroupMigrated } from '../db/migrate.ts'
import type { MigrationGroup } from '../db/migrations/index.ts'
import { sendProblem } from './error-handler.ts'

export type ReadinessCheck = () => Promise<boolean>

declare module 'fastify' {
  interface FastifyInstance {
    /** Adds a named dependency to GET /health/ready. */
    addReadinessCheck(name: string, check: ReadinessCheck): void
  }
}

const Health = Type.Object({ status: Type.Literal('ok'), service: Type.String() })
const Ready = Type.Object({
  status: Type.Literal('ready'),
  service: Type.String(),
  checks: Type.Record(Type.String(), Type.Boolean()),
})

export const healthRoutes = fp<{ service: string; database: boolean; groups: readonly MigrationGroup[] }>(
  async (app: FastifyInstance, { service, database, groups }) => {
    const checks = new Map<string, ReadinessCheck>()
    if (database) {
      checks.set('database', () => app.database.ping())
      for (const group of groups)
        checks.set(`migrations:${group}`, () => isGroupMigrated(app.database, group))
    }
    app.decorate('addReadinessCheck', (name: string, check: ReadinessCheck) => {
      checks.set(name, check)
    })

    app.get(
      '/health',
      { logLevel: 'warn', schema: { tags: ['health'], response: { 200: Health } } },
      async () => ({
        status: 'ok' as const,
        service,
      }),
    )

    app.get(
      '/health/ready',
      { logLevel: 'warn', schema: { tags: ['health'], response: { 200: Ready } } },
      async (request, reply) => {
        const results = Object.fromEntries(
          await Promise.all(
            [...checks].map(async ([name, check]) => [name, await check().catch(() => false)] as const),
          ),
        )
        const failing = Object.keys(results).filter((name) => !results[name])
        if (failing.length > 0) {
          return sendProblem(request, reply, 503, 'ERR_NOT_READY', `not ready: ${failing.join(', ')}`, {
            checks: results,
          })
        }
        return { status: 'ready' as const, service, checks: results }
      },
    )
  },
  { name: 'docs-mesh-health' },
)
