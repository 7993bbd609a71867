// A service's boot waits for PostgreSQL (wait-for-database.ts): the database
// plugin does so before it migrates, logs each retry in the service's own log,
// and fails the boot with ERR_DATABASE_UNREACHABLE once its time is up.
import { once } from 'node:events'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { databasePlugin } from '../../src/app/database-plugin.ts'

describe('databasePlugin', () => {
  it('waits for PostgreSQL at boot, saying so, and gives up after its bounded time', async () => {
    const probe = createServer().listen(0, '127.0.0.1')
    await once(probe, 'listening')
    const { port } = probe.address() as { port: number }
    probe.close()
    await once(probe, 'close')

    const lines: Array<{ msg: string; code?: string }> = []
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)))
        done()
      },
    })
    const app = Fastify({ logger: { level: 'info', stream } })
    app.register(databasePlugin, {
      url: `postgres://docs@127.0.0.1:${port}/docs`,
      owns: [],
      connectTimeoutMs: 300,
    })
    await expect(app.ready()).rejects.toMatchObject({ code: 'ERR_DATABASE_UNREACHABLE' })
    expect(lines[0]).toMatchObject({
      code: 'ECONNREFUSED',
      msg: expect.stringMatching(/^database not reachable yet/),
    })
  })
})
