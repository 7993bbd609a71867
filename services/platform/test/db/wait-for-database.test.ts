// A service that starts before PostgreSQL waits for it with back-off instead
// of exiting (and crash-looping on a fresh cluster), says so in its log, gives
// up after a bounded time with a stable error code, and does not wait for
// errors that will not pass by themselves.
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { connectDatabase, type DatabaseHandle } from '../../src/db/connect.ts'
import { waitForDatabase } from '../../src/db/wait-for-database.ts'

interface Line {
  level: 'warn' | 'info'
  details: { attempt?: number; code?: string; retryInMs?: number }
  message: string
}

function recorder() {
  const lines: Line[] = []
  let onLine = () => {}
  return {
    lines,
    /** Resolves at the first line logged from now on. */
    next: () => new Promise<void>((resolve) => (onLine = resolve)),
    log: {
      warn: (details: Line['details'], message: string) => {
        lines.push({ level: 'warn', details, message })
        onLine()
      },
      info: (details: Line['details'], message: string) => {
        lines.push({ level: 'info', details, message })
        onLine()
      },
    },
  }
}

const listen = async (server: Server, port = 0) => {
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as { port: number }).port
}

/** A port nothing listens on: connections to it are refused. */
async function refusingPort(): Promise<number> {
  const server = createServer()
  const port = await listen(server)
  server.close()
  await once(server, 'close')
  return port
}

let handles: DatabaseHandle[] = []
let servers: Server[] = []
afterEach(async () => {
  await Promise.all(handles.map((h) => h.close().catch(() => {})))
  for (const s of servers) s.close()
  handles = []
  servers = []
})

const open = (url: string) => {
  const handle = connectDatabase(url, { poolSize: 1 })
  handles.push(handle)
  return handle
}

describe('waitForDatabase', () => {
  it('retries a refused connection with growing pauses, then gives up with ERR_DATABASE_UNREACHABLE', async () => {
    const port = await refusingPort()
    const { lines, log } = recorder()
    const database = open(`postgres://nobody@127.0.0.1:${port}/docs`)
    const started = Date.now()
    const error = await waitForDatabase(database, {
      timeoutMs: 1_000,
      initialDelayMs: 50,
      maxDelayMs: 200,
      log,
    }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ERR_DATABASE_UNREACHABLE' })
    expect((error as Error).message).toMatch(
      /^database not reachable after \d+ attempts in 1000 ms \(last error ECONNREFUSED\)$/,
    )
    expect(Date.now() - started).toBeLessThan(5_000)
    const pauses = lines.map((l) => l.details.retryInMs as number)
    expect(pauses.slice(0, 3)).toEqual([50, 100, 200])
    expect(Math.max(...pauses)).toBeLessThanOrEqual(200)
    expect(lines[0]).toEqual({
      level: 'warn',
      details: { attempt: 1, code: 'ECONNREFUSED', retryInMs: 50 },
      message: 'database not reachable yet (ECONNREFUSED), retrying in 50 ms',
    })
  })

  it('fails at once on an error that will not pass, such as a wrong password', async () => {
    // A server that answers any startup with PostgreSQL's ErrorResponse for invalid_password (28P01).
    const server = createServer((socket) => {
      socket.once('data', () => {
        const fields = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0')
        const header = Buffer.alloc(5)
        header.write('E', 0)
        header.writeInt32BE(fields.length + 4, 1)
        socket.end(Buffer.concat([header, fields]))
      })
    })
    servers.push(server)
    const port = await listen(server)
    const { lines, log } = recorder()
    const error = await waitForDatabase(open(`postgres://docs@127.0.0.1:${port}/docs`), {
      timeoutMs: 10_000,
      log,
    }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: '28P01' })
    expect(lines).toEqual([])
  })

  it.skipIf(!process.env.TEST_DATABASE_URL)(
    'comes up as soon as a port that refused starts accepting',
    async () => {
      const target = new URL(process.env.TEST_DATABASE_URL as string)
      const port = await refusingPort()
      const url = new URL(target)
      url.host = `127.0.0.1:${port}`
      const { lines, log, next } = recorder()
      const firstRefusal = next()
      const waiting = waitForDatabase(open(url.toString()), { timeoutMs: 30_000, initialDelayMs: 50, log })
      await firstRefusal
      // PostgreSQL "starts" on that port: a forwarder to the test server.
      const sockets: Socket[] = []
      const forwarder = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname)
        sockets.push(client, upstream)
        client.pipe(upstream).pipe(client)
        client.on('error', () => upstream.destroy())
        upstream.on('error', () => client.destroy())
      })
      servers.push(forwarder)
      forwarder.on('close', () => {
        for (const s of sockets) s.destroy()
      })
      await listen(forwarder, port)
      await waiting
      expect(lines[0]?.details.code).toBe('ECONNREFUSED')
      expect(lines.at(-1)).toMatchObject({
        level: 'info',
        message: expect.stringMatching(/^database reachable after \d+ attempts$/),
      })
      for (const h of handles) await h.close()
      handles = []
    },
    40_000,
  )
})
