// The process around an app: read the config (or say everything wrong with
// it and exit), listen, and on SIGINT/SIGTERM stop taking new connections,
// let in-flight requests finish (up to the grace period), close every
// resource, exit. Under a supervisor it can report the port it bound
// (REPORT_LISTENING) and exit when the supervisor's stdin pipe closes
// (EXIT_ON_STDIN_CLOSE), so a supervisor killed with SIGKILL leaves no app behind.
// With METRICS_PORT its own Prometheus metrics listen there (the reported line names that port too).
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { type BaseConfig, ConfigError } from '../config/load-config.ts'
import { instrumentApp, type MetricsServer, startMetricsServer } from './metrics-server.ts'

export async function runService<C extends BaseConfig>(
  load: () => C,
  build: (config: C) => Promise<FastifyInstance>,
): Promise<void> {
  let config: C
  try {
    config = load()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(78) // EX_CONFIG
  }
  const app = await build(config)
  const registry = config.METRICS_PORT === undefined ? null : instrumentApp(app)
  let metrics: MetricsServer | null = null
  const tracing = config.OTEL_EXPORTER_OTLP_ENDPOINT
    ? (await import('./otel-tracing.ts')).traceApp(app, {
        endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
        serviceName: config.OTEL_SERVICE_NAME,
      })
    : null
  const closer = closeWithGrace(
    { delay: config.SHUTDOWN_GRACE_MS, logger: app.log },
    async ({ signal, err }) => {
      if (err) app.log.error({ err }, 'closing after an error')
      else app.log.info({ signal }, 'closing: draining in-flight requests')
      await app.close()
      await metrics?.close()
      await tracing?.close()
    },
  )
  if (config.EXIT_ON_STDIN_CLOSE) {
    // The pipe's other end is the supervisor: once it is gone nobody will stop this app.
    process.stdin.on('data', () => {})
    process.stdin.once('end', () => {
      app.log.warn('the supervisor is gone (stdin closed): closing')
      void closer.close()
    })
  }
  try {
    if (registry && config.METRICS_PORT !== undefined)
      metrics = await startMetricsServer(registry, config.HOST, config.METRICS_PORT)
    await app.listen({ host: config.HOST, port: config.PORT })
  } catch (err) {
    app.log.fatal({ err }, 'could not start')
    await app.close()
    process.exit(1)
  }
  if (config.REPORT_LISTENING) {
    const address = app.server.address()
    if (address && typeof address === 'object')
      process.stdout.write(
        `listening ${JSON.stringify({ port: address.port, ...(metrics ? { metricsPort: metrics.port } : {}) })}\n`,
      )
  }
}
