// A stand-in for a service another one depends on: answers GET /health.
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export async function startHealthStub(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/health' ? 200 : 404
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ status: 'ok' }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
