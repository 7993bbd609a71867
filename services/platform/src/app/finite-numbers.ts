// Refuses a number that is not finite wherever validation let one through.
// Ajv's type coercion turns the query string `limit=1e309` (or `Infinity`)
// into Infinity after its `integer` check, and its `maximum` keyword skips
// non-finite numbers, so `Type.Integer({ maximum: 100 })` alone does not stop
// it; JSON.parse makes `1e309` in a body Infinity too. One hook for every
// route: after validation, an Infinity or NaN in the params, query or body is
// a 400, never a value handed to SQL.
import type { FastifyInstance } from 'fastify'
import { HttpProblem } from '../errors/problem.ts'

/** The JSON-pointer-like path of the first non-finite number in `value`, or null. */
export function firstNonFinite(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : path || '/'
  if (depth > 32 || value === null || typeof value !== 'object') return null
  for (const [key, item] of Object.entries(value)) {
    const found = firstNonFinite(item, `${path}/${key}`, depth + 1)
    if (found) return found
  }
  return null
}

export function refuseNonFiniteNumbers(app: FastifyInstance): void {
  app.addHook('preHandler', async (request) => {
    for (const [part, value] of [
      ['params', request.params],
      ['querystring', request.query],
      ['body', request.body],
    ] as const) {
      const path = firstNonFinite(value, '')
      if (path) throw new HttpProblem(400, 'ERR_VALIDATION', `${part}${path} must be a finite number`)
    }
  })
}
