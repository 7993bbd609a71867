// Errors raised before any route runs (the router, Node's HTTP parser) and
// numbers Ajv's coercion lets through are problem+json 4xx like every other.

import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServiceApp, type ServiceApp } from '../../src/app/create-app.ts'
import { loadConfig } from '../../src/config/load-config.ts'
import { createTestDatabase, type TestDatabase } from '../../src/testing/test-databases.ts'

/** Sends raw bytes and reads the whole answer (the server closes or answers with a length). */
function rawExchange(port: number, request: string): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')))
    let data = ''
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1')
      const end = data.indexOf('\r\n\r\n')
      const length = /content-length: (\d+)/i.exec(data)
      if (end >= 0 && length && data.length >= end + 4 + Number(length[1])) socket.destroy()
    })
    socket.on('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n')
      resolve({ status: Number(head.split(' ')[1]), head, body })
    })
    socket.on('error', reject)
    socket.write(request)
  })
}

describe('errors before a route runs', () => {
  let database: TestDatabase
  let app: ServiceApp
  let port: number

  beforeAll(async () => {
    database = await createTestDatabase('sqlite', process.env)
    const config = loadConfig({ DATABASE_URL: database.url }, { defaultPort: 0 })
    app = await createServiceApp({
      service: {
        name: 'verification-api',
        serviceAccount: 'verification-sa',
        routePrefix: '/verify',
        database: true,
        owns: ['audit'],
        reads: [],
      },
      config,
      logger: false,
    })
    app.get('/verify/keys/:id', async (request) => ({ id: (request.params as { id: string }).id }))
    app.get(
      '/verify/list',
      {
        schema: {
          querystring: Type.Object({
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
            offset: Type.Integer({ minimum: 0, default: 0 }),
          }),
        },
      },
      async (request) => request.query,
    )
    app.post(
      '/verify/count',
      { schema: { body: Type.Object({ n: Type.Number() }) } },
      async (request) => request.body,
    )
    await app.listen({ port: 0, host: '127.0.0.1' })
    port = (app.server.address() as AddressInfo).port
  })
  afterAll(async () => {
    await app.close()
    await database.drop()
  })

  const get = (path: string) =>
    rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)

  it('answers a malformed percent-escape with a problem+json 400', async () => {
    const res = await get('/verify/keys/%')
    expect(res.status).toBe(400)
    expect(res.head).toMatch(/content-type: application\/problem\+json/i)
    expect(JSON.parse(res.body)).toMatchObject({ status: 400, code: 'ERR_BAD_URL' })
  })

  it('answers a path parameter over the length limit with a problem+json 414', async () => {
    const res = await get(`/verify/keys/${'k'.repeat(500)}`)
    expect(res.status).toBe(414)
    expect(res.head).toMatch(/content-type: application\/problem\+json/i)
    expect(JSON.parse(res.body)).toMatchObject({ status: 414, code: 'ERR_URI_TOO_LONG' })
  })

  it('answers headers over the size limit with a problem+json 431 and closes', async () => {
    const res = await rawExchange(
      port,
      `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    )
    expect(res.status).toBe(431)
    expect(res.head).toMatch(/content-type: application\/problem\+json/i)
    expect(JSON.parse(res.body)).toMatchObject({ status: 431, code: 'ERR_HEADERS_TOO_LARGE' })
  })

  it('answers a request that is not HTTP with a problem+json 400', async () => {
    const res = await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n')
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body)).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST' })
  })

  it.each(['limit=1e309', 'limit=Infinity', 'limit=-Infinity', 'offset=1e309', 'offset=Infinity'])(
    'refuses %s with a problem+json 400 instead of passing Infinity on',
    async (query) => {
      const res = await app.inject({ method: 'GET', url: `/verify/list?${query}` })
      expect(res.statusCode).toBe(400)
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(res.json()).toMatchObject({ code: 'ERR_VALIDATION' })
    },
  )

  it('refuses 1e309 in a JSON body, and still takes finite numbers', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/verify/count',
      headers: { 'content-type': 'application/json' },
      payload: '{"n":1e309}',
    })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 'ERR_VALIDATION' })
    const ok = await app.inject({ method: 'GET', url: '/verify/list?limit=5&offset=10' })
    expect(ok.json()).toEqual({ limit: 5, offset: 10 })
  })
})
