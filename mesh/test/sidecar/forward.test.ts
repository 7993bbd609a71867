import { once } from 'node:events'
import { createServer, request } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { type Dispatcher, Pool } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { forward, RETRY_BUFFER_LIMIT } from '../../src/sidecar/forward.ts'

/** A dispatcher whose first `failures` attempts are refused connections, as undici reports them. */
function flakyDispatcher(failures: number) {
  const attempts: Array<Buffer | null> = []
  const dispatcher = {
    dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
      const body = options.body
      attempts.push(Buffer.isBuffer(body) ? body : null)
      const controller = {} as Dispatcher.DispatchController
      setImmediate(() => {
        if (attempts.length <= failures)
          return handler.onResponseError?.(
            controller,
            Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
          )
        handler.onResponseStart?.(controller, 200, {})
        handler.onResponseData?.(controller, Buffer.from('ok'))
        handler.onResponseEnd?.(controller, {})
      })
      return true
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
    forward(req, res, { dispatcher, path: '/', headers: {}, server: 'envoy', retries: 2 })
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

/** A proxy in front of `app`, forwarding with a real undici pool as the sidecars do. */
async function proxyFor(app: ReturnType<typeof createServer>) {
  servers.push(app)
  app.listen(0, '127.0.0.1')
  await once(app, 'listening')
  const pool = new Pool(`http://127.0.0.1:${(app.address() as AddressInfo).port}`)
  const proxy = createServer((req, res) => {
    forward(req, res, { dispatcher: pool, path: req.url ?? '/', headers: {}, server: 'envoy' })
  })
  servers.push(proxy)
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  return { port: (proxy.address() as AddressInfo).port, pool }
}

const MiB = 1024 * 1024

// Envoy streams a request upstream as it arrives, keeping up to its buffer limit to replay on
// a retry (router.cc Filter::decodeData); it does not wait for the body first.
describe('passing the request on', () => {
  it('passes a small request on while its body is still coming, so the destination can answer it', async () => {
    const app = createServer((_req, res) => {
      // As an app whose own timeout or check answers before the body is in.
      res.writeHead(408, { 'content-type': 'application/problem+json', connection: 'close' })
      res.end('{"code":"ERR_REQUEST_TIMEOUT"}')
    })
    const { port, pool } = await proxyFor(app)
    const socket = connect(port, '127.0.0.1')
    socket.write('POST /stalled HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n0123456789')
    let answer = ''
    socket.on('data', (c: Buffer) => {
      answer += c.toString()
    })
    const got = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3_000)
      socket.on('data', () => {
        if (answer.includes('ERR_REQUEST_TIMEOUT')) {
          clearTimeout(timer)
          resolve(true)
        }
      })
    })
    socket.destroy()
    expect(got).toBe(true)
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
    await pool.destroy()
  })

  it('still replays a small body that came in pieces when the first connection is refused', async () => {
    const { dispatcher, attempts } = flakyDispatcher(1)
    const proxy = createServer((req, res) => {
      forward(req, res, { dispatcher, path: '/', headers: {}, server: 'envoy', retries: 2 })
    })
    servers.push(proxy)
    proxy.listen(0, '127.0.0.1')
    await once(proxy, 'listening')
    const socket = connect((proxy.address() as AddressInfo).port, '127.0.0.1')
    socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n01234')
    await new Promise((resolve) => setTimeout(resolve, 50))
    socket.write('56789')
    let answer = ''
    socket.on('data', (c: Buffer) => {
      answer += c.toString()
    })
    await new Promise<void>((resolve) => {
      // The answer is chunked (the stand-in gives no length): its one chunk, then the last.
      const check = () => (answer.endsWith('\r\nok\r\n0\r\n\r\n') ? resolve() : setTimeout(check, 10))
      check()
    })
    socket.destroy()
    expect(answer).toMatch(/^HTTP\/1\.1 200 /)
    // The first attempt streamed the body as it came; the retry sent the kept copy, whole.
    expect(attempts.map((b) => b?.toString() ?? 'a stream')).toEqual(['a stream', '0123456789'])
  })
})

// Envoy's router relays the answer as it streams: a client that stops reading
// stops the upstream (flow control, envoyproxy/envoy docs/root/faq/configuration/flow_control.rst),
// and a client that goes away resets the upstream stream (router.cc onDownstreamReset... resetStream).
describe('relaying the answer', () => {
  it('reads the destination’s answer no faster than the client takes it', async () => {
    const total = 32 * MiB
    const chunk = Buffer.alloc(64 * 1024, 'a')
    let written = 0
    const appFinished = Promise.withResolvers<void>()
    const app = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': total })
      const more = () => {
        while (written < total) {
          written += chunk.length
          if (!res.write(chunk)) return void res.once('drain', more)
        }
        res.end(() => appFinished.resolve())
      }
      more()
    })
    const { port, pool } = await proxyFor(app)
    const response = Promise.withResolvers<import('node:http').IncomingMessage>()
    request({ port, host: '127.0.0.1' }, response.resolve).end()
    const res = await response.promise
    res.pause()
    // Nothing reads the answer: the destination must not get to write it all.
    const finishedEarly = await Promise.race([
      appFinished.promise.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2_000)),
    ])
    expect(finishedEarly).toBe(false)
    expect(written).toBeLessThan(total / 2)
    let received = 0
    res.on('data', (c: Buffer) => {
      received += c.length
    })
    res.resume()
    await once(res, 'end')
    expect(received).toBe(total)
    await pool.close()
  })

  it('stops the destination’s answer when the client goes away in the middle of it', async () => {
    const appClosed = Promise.withResolvers<boolean>()
    const app = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first part\n')
      // The rest never comes on its own: only the proxy closing the connection ends this exchange.
      res.once('close', () => appClosed.resolve(res.writableFinished))
    })
    const { port, pool } = await proxyFor(app)
    const response = Promise.withResolvers<import('node:http').IncomingMessage>()
    const req = request({ port, host: '127.0.0.1' }, response.resolve)
    req.end()
    const res = await response.promise
    await once(res, 'data')
    req.destroy()
    expect(await appClosed.promise).toBe(false)
    await pool.destroy()
  })
})
