// Request ids and trace context: an incoming x-request-id is kept when it is
// well formed (the gateway sets one), echoed on the response, and passed on
// with the W3C traceparent to every outbound call.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { continueTrace, type TraceContext } from '../tracing/trace-context.ts'

declare module 'fastify' {
  interface FastifyRequest {
    trace: TraceContext
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export function requestIdFrom(request: IncomingMessage): string {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
}

export const requestContextPlugin = fp(
  async (app: FastifyInstance) => {
    app.decorateRequest('trace', null as unknown as TraceContext)
    app.addHook('onRequest', async (request, reply) => {
      const header = request.headers.traceparent
      request.trace = continueTrace(typeof header === 'string' ? header : undefined)
      reply.header('x-request-id', request.id)
    })
  },
  { name: 'docs-mesh-request-context' },
)
