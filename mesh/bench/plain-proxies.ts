// The floor under the mesh hop's cost, for the benchmark: two proxies with
// nothing of a mesh in them (plain HTTP, no TLS, no policy, no headers added,
// no telemetry, no retries; only the hop-by-hop headers dropped, with the
// sidecars' own endToEndHeaders), each Node's HTTP server in front of an undici
// pool, passing the answer on with undici's `stream()` (its cheapest way to
// hand a response to a writable). Chained as a hop's two sidecars are: the
// client → the first → the second → the app. In one process, as the bench's
// mesh runs both of a hop's sidecars in one. What this pair costs per request
// is what any proxy built on Node's HTTP stack pays at least, so its rate is a
// ceiling for the hop's on this machine.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Pool } from 'undici'
import { endToEndHeaders } from '../src/sidecar/forward.ts'

async function plainProxy(upstreamPort: number): Promise<Server> {
  const upstream = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 64 })
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    upstream
      .stream(
        {
          path: req.url ?? '/',
          method: req.method as 'POST',
          headers: endToEndHeaders(req.headers),
          body: req,
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, endToEndHeaders(headers))
          return res
        },
      )
      .catch(() => {
        if (!res.headersSent) res.writeHead(502).end()
        else res.destroy()
      })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server
}

const appPort = Number(process.argv[2])
const second = await plainProxy(appPort)
const first = await plainProxy((second.address() as AddressInfo).port)
process.stdout.write(`${JSON.stringify({ port: (first.address() as AddressInfo).port, pid: process.pid })}\n`)
process.on('SIGTERM', () => process.exit(0))
