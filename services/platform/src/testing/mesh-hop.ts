// What a sidecar pair adds to a call between two services, for tests of one
// service that calls another without the whole mesh: a real HTTP endpoint
// that hands each request to the callee's app with the caller's identity in
// x-forwarded-client-cert. The mesh itself, and its policies, are tested in
// the mesh package and the e2e matrix.
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, InjectOptions } from 'fastify'

export interface MeshHop {
  url: string
  /** Requests that came through, for assertions. */
  calls: Array<{ method: string; url: string }>
  /** Answer 503 to everything from now on, as a callee that is down. */
  down(): void
  close(): Promise<void>
}

export async function startMeshHop(
  callee: FastifyInstance,
  identities: { caller: string; callee: string; trustDomain?: string; namespace?: string },
): Promise<MeshHop> {
  const spiffe = (sa: string) =>
    `spiffe://${identities.trustDomain ?? 'cluster.local'}/ns/${identities.namespace ?? 'docs'}/sa/${sa}`
  const calls: MeshHop['calls'] = []
  let isDown = false
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    calls.push({ method: req.method ?? 'GET', url: req.url ?? '/' })
    if (isDown) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream')
      return
    }
    const headers = { ...req.headers }
    delete headers.host
    headers['x-forwarded-client-cert'] =
      `By=${spiffe(identities.callee)};Hash=0;Subject="";URI=${spiffe(identities.caller)}`
    const reply = await callee.inject({
      method: req.method as InjectOptions['method'],
      url: req.url ?? '/',
      headers,
      payload: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
    })
    res.writeHead(reply.statusCode, reply.headers as Record<string, string>).end(reply.rawPayload)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    down: () => {
      isDown = true
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
