// The process around an app: listen, and on SIGINT/SIGTERM stop taking new
// connections, let in-flight requests finish (up to the grace period), close
// every resource, exit.
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'

export async function startServer(app: FastifyInstance, options: { host: string; port: number; graceMs: number }): Promise<void> {
  closeWithGrace({ delay: options.graceMs, logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'closing: draining in-flight requests')
    await app.close()
  })
  try {
    await app.listen({ host: options.host, port: options.port })
  } catch (err) {
    app.log.fatal({ err }, 'could not start')
    process.exit(1)
  }
}
