// A workload Istio's webhook did not inject: no proxy at all, so nothing
// checks or carries identity. Locally its pod port is a plain TCP hop to the
// app, and its app's HTTP_PROXY sends requests as they are, in plaintext, to
// the destination's port; a STRICT destination closes such a connection, and
// the app sees that close, not an HTTP answer.
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import {
  type AddressInfo,
  connect,
  createServer as createTcpServer,
  type Server,
  type Socket,
} from 'node:net'
import { Pool } from 'undici'
import type { Workload } from '../manifests/mesh-model.ts'
import { endToEndHeaders } from './forward.ts'
import { listenOnLoopback, type RunningSidecar } from './listen.ts'
import type { ServiceDirectory } from './service-directory.ts'

/** The pod's port: bytes straight to the app, as the kernel would deliver them. */
export async function startPodPort(listenPort: number, appPort: number): Promise<RunningSidecar> {
  const sockets = new Set<Socket>()
  const server: Server = createTcpServer((client) => {
    const app = connect(appPort, '127.0.0.1')
    for (const s of [client, app]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {
        client.destroy()
        app.destroy()
      })
    }
    client.pipe(app).pipe(client)
  })
  server.listen(listenPort, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The app's HTTP_PROXY without a sidecar: plaintext to the destination, no headers added or removed. */
export async function startPlainEgress(options: {
  workload: Workload
  directory: ServiceDirectory
  listenPort: number
}): Promise<RunningSidecar> {
  const pools = new Map<string, Pool>()
  const server = createHttpServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    let url: URL
    try {
      url = new URL(req.url ?? '')
    } catch {
      return req.socket.destroy()
    }
    const endpoint = options.directory.resolve(
      url.hostname,
      Number(url.port || 80),
      options.workload.namespace,
    )
    // No such Service: like a DNS failure, nothing answers.
    if (!endpoint) return req.socket.destroy()
    const origin = `http://${endpoint.host ?? '127.0.0.1'}:${endpoint.port}`
    let pool = pools.get(origin)
    if (!pool) {
      pool = new Pool(origin, { connections: 16 })
      pools.set(origin, pool)
    }
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
    pool
      .request({
        method: req.method as 'GET',
        path: url.pathname + url.search,
        headers: { ...endToEndHeaders(req.headers), host: url.host },
        body: hasBody ? req : null,
      })
      .then((upstream) => {
        const headers: Record<string, string | string[]> = {}
        for (const [k, v] of Object.entries(upstream.headers)) if (v !== undefined) headers[k] = v
        delete headers.connection
        delete headers['keep-alive']
        delete headers['transfer-encoding']
        res.writeHead(upstream.statusCode, headers)
        upstream.body.on('error', () => res.destroy())
        upstream.body.pipe(res)
      })
      // The destination closed the connection (STRICT mTLS): so does this one.
      .catch(() => req.socket.destroy())
  })
  return listenOnLoopback(server, options.listenPort, async () => {
    await Promise.all([...pools.values()].map((p) => p.destroy()))
  })
}
