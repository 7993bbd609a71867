import { once } from 'node:events'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Dispatcher } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { forward, RETRY_BUFFER_LIMIT } from '../../src/sidecar/forward.ts'

/** A dispatcher whose first `failures` attempts are refused connections, as undici reports them. */
function flakyDispatcher(failures: number) {
  const attempts: Array<Buffer | null> = []
  const dispatcher = {
    async request(options: Dispatcher.RequestOptions) {
      const body = options.body
      attempts.push(Buffer.isBuffer(body) ? body : null)
      if (attempts.length <= failures)
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
      const { Readable } = await import('node:stream')
      return { statusCode: 200, headers: {}, body: Readable.from([Buffer.from('ok')]) }
    },
  } as unknown as Dispatcher
  return { dispatcher, attempts }
}

const servers: Array<ReturnType<typeof createServer>> = []
afterEach(() => {
  for (const s of servers.splice(0)) s.close()
})

async function through(dispatcher: Dispatcher, body: Buffer | null) {
  const server = createServer((req, res) => {
    void forward(req, res, { dispatcher, path: '/', headers: {}, server: 'envoy', retries: 2 })
  })
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      { port: (server.address() as AddressInfo).port, host: '127.0.0.1', method: body ? 'POST' : 'GET' },
      (res) => {
        let text = ''
        res.on('data', (c) => {
          text += c
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      },
    )
    req.on('error', reject)
    req.end(body ?? undefined)
  })
}

// Istio's default retry policy (istio/istio pilot/pkg/networking/core/route/retry/retry.go
// DefaultPolicy): 2 retries on connect-failure; Envoy replays only a body it kept within the
// buffer limit (envoyproxy/envoy source/common/router/router.cc).
describe('retries as Istio’s default policy', () => {
  it('retries a refused connection twice, replaying a small body', async () => {
    const { dispatcher, attempts } = flakyDispatcher(2)
    const res = await through(dispatcher, Buffer.from('{"a":1}'))
    expect(res).toEqual({ status: 200, text: 'ok' })
    expect(attempts.map((b) => b?.toString())).toEqual(['{"a":1}', '{"a":1}', '{"a":1}'])
  })

  it('gives Envoy’s retried text after the retries', async () => {
    const { dispatcher, attempts } = flakyDispatcher(5)
    const res = await through(dispatcher, null)
    expect(attempts).toHaveLength(3)
    expect(res).toEqual({
      status: 503,
      text: 'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused',
    })
  })

  it('does not retry a body too large to replay', async () => {
    const { dispatcher, attempts } = flakyDispatcher(1)
    const res = await through(dispatcher, Buffer.alloc(RETRY_BUFFER_LIMIT + 1))
    expect(attempts).toHaveLength(1)
    expect(res.status).toBe(503)
    expect(res.text).toBe(
      'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused',
    )
  })
})
