// SCHEMA_COMPILE=lazy (pnpm dev): a route's schemas are compiled on its first
// use, not at the app's start, and every answer is the one eager compilation
// gives: the same 400s for the same bad input (headers schemas included, which
// Fastify prepares only under its default compiler), the same coercions, the
// same serialised responses.

import Type from 'typebox'
import { afterEach, describe, expect, it } from 'vitest'
import { createServiceApp, type ServiceApp } from '../../src/app/create-app.ts'
import { loadConfig } from '../../src/config/load-config.ts'

const service = {
  name: 'frontend',
  serviceAccount: 'frontend-sa',
  routePrefix: '',
  database: false,
  owns: [],
  reads: [],
} as const

const apps: ServiceApp[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()))
})

async function appWith(compile: 'eager' | 'lazy', routes: (app: ServiceApp) => void): Promise<ServiceApp> {
  const config = loadConfig({ SCHEMA_COMPILE: compile }, { defaultPort: 0 })
  const app = await createServiceApp({ service, config, logger: false })
  apps.push(app)
  routes(app)
  await app.ready()
  return app
}

/** Routes with a body, a querystring and a response schema. */
function routes(app: ServiceApp) {
  app.post(
    '/things',
    {
      schema: {
        body: Type.Object(
          { name: Type.String({ minLength: 1, maxLength: 10 }), count: Type.Integer({ minimum: 0 }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ name: Type.String(), count: Type.Integer() }) },
      },
    },
    // The handler answers a field the response schema leaves out: serialisation drops it.
    async (request) => {
      const answer = { ...request.body, secret: 'not for the client' }
      return answer
    },
  )
  app.get(
    '/things',
    {
      schema: {
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }) }),
      },
    },
    async (request) => ({ limit: (request.query as { limit: number }).limit }),
  )
  // Headers schemas as people write them, in a header's usual case: Fastify lowercases every
  // name in them (its default validator compiler only), a required one, a forbidden one, and
  // one that needs another.
  app.get(
    '/headers',
    {
      schema: {
        headers: {
          type: 'object',
          required: ['X-Thing'],
          properties: { 'X-Thing': { type: 'string', maxLength: 3 } },
          propertyNames: { not: { enum: ['X-Debug'] } },
          dependencies: { 'X-Api-Key': ['X-Signature'] },
        },
      },
    },
    async () => ({ ok: true }),
  )
  // Two routes whose body schemas (two objects, as two modules would make them) share an $id,
  // and a shared schema both name by $ref.
  app.addSchema({ $id: 'Count', type: 'integer', minimum: 0 })
  const counted = () => ({
    $id: 'Counted',
    type: 'object',
    required: ['n'],
    properties: { n: { $ref: 'Count#' } },
  })
  app.post('/counted', { schema: { body: counted() } }, async () => ({ ok: true }))
  app.post('/counted/again', { schema: { body: counted() } }, async () => ({ ok: true }))
}

const requests = [
  { method: 'POST', url: '/things', payload: { name: 'a', count: 1 } },
  { method: 'POST', url: '/things', payload: { name: '', count: 1 } },
  { method: 'POST', url: '/things', payload: { name: 'a' } },
  { method: 'POST', url: '/things', payload: { name: 'a', count: 1, extra: true } },
  { method: 'POST', url: '/things', payload: { name: 'a', count: 'many' } },
  { method: 'POST', url: '/things', payload: [] },
  { method: 'GET', url: '/things?limit=5' },
  { method: 'GET', url: '/things' },
  { method: 'GET', url: '/things?limit=0' },
  { method: 'GET', url: '/things?limit=x' },
  { method: 'GET', url: '/headers', headers: { 'x-thing': 'abc' } },
  { method: 'GET', url: '/headers' },
  { method: 'GET', url: '/headers', headers: { 'X-Thing': 'abcd' } },
  { method: 'GET', url: '/headers', headers: { 'x-thing': 'a', 'x-debug': '1' } },
  { method: 'GET', url: '/headers', headers: { 'x-thing': 'a', 'x-api-key': 'k' } },
  { method: 'GET', url: '/headers', headers: { 'x-thing': 'a', 'x-api-key': 'k', 'x-signature': 's' } },
  { method: 'POST', url: '/counted/again', payload: { n: 1 } },
  { method: 'POST', url: '/counted', payload: { n: 'one' } },
  { method: 'POST', url: '/counted/again', payload: {} },
  { method: 'POST', url: '/counted', payload: { n: -1 } },
  { method: 'POST', url: '/counted', payload: { n: 2 } },
] as const

describe('SCHEMA_COMPILE=lazy', () => {
  it('answers every request as eager compilation does: validation, headers, coercion, defaults, serialisation', async () => {
    const eager = await appWith('eager', routes)
    const lazy = await appWith('lazy', routes)
    // Each problem's request id is its own; everything else must match.
    const answer = (response: { statusCode: number; json(): Record<string, unknown> }) => {
      const { request_id: _, ...body } = response.json()
      return { status: response.statusCode, body }
    }
    for (const request of requests) {
      const [a, b] = await Promise.all([eager.inject(request), lazy.inject(request)])
      expect({ request, ...answer(b) }).toEqual({ request, ...answer(a) })
    }
    // Each request's answer in eager mode, so the cases above cover what they claim.
    const statuses = await Promise.all(requests.map(async (r) => (await eager.inject(r)).statusCode))
    expect(statuses).toEqual([
      200, 400, 400, 400, 400, 400, 200, 200, 400, 400, 200, 400, 400, 400, 400, 200, 200, 400, 400, 400, 200,
    ])
    // And they are what a client expects: bad input is refused, not let through.
    const refused = await lazy.inject({ method: 'POST', url: '/things', payload: { name: 'a', count: -1 } })
    expect(refused.statusCode).toBe(400)
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/)
    const served = await lazy.inject({ method: 'POST', url: '/things', payload: { name: 'a', count: 2 } })
    expect(served.json()).toEqual({ name: 'a', count: 2 })
    expect((await lazy.inject({ method: 'GET', url: '/things?limit=7' })).json()).toEqual({ limit: 7 })
  })

  it('compiles a route schema on its first use, not at the start (eager stops the start)', async () => {
    // A schema Ajv cannot compile (an unknown type): how each mode tells that it was compiled.
    const broken = (app: ServiceApp) => {
      app.get('/ok', async () => ({ ok: true }))
      app.post('/broken', { schema: { body: { type: 'no-such-type' } } }, async () => ({ ok: true }))
    }
    await expect(appWith('eager', broken)).rejects.toMatchObject({ code: 'FST_ERR_SCH_VALIDATION_BUILD' })
    const lazy = await appWith('lazy', broken)
    expect((await lazy.inject({ method: 'GET', url: '/ok' })).statusCode).toBe(200)
    const first = await lazy.inject({ method: 'POST', url: '/broken', payload: {} })
    expect(first.statusCode).toBe(500)
    expect(first.headers['content-type']).toMatch(/^application\/problem\+json/)
  })
})
