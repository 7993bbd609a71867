// Builds bucket-api without listening, for the server and for tests.

import { createServiceApp, type ServiceApp } from '@docs-mesh/platform'
import multipart from '@fastify/multipart'
import { createFileBlobStore } from './blobs/blob-store.ts'
import { createHousekeeping, type Housekeeping } from './blobs/housekeeping.ts'
import { createIdentityClient } from './buckets/identity-client.ts'
import { createUploadQuota } from './buckets/upload-quota.ts'
import type { Config } from './config.ts'
import { bucketRoutes } from './routes/buckets.ts'
import { recipientRoutes } from './routes/recipients.ts'
import { uploadRoute } from './routes/upload.ts'
import { service } from './service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    housekeeping: Housekeeping
  }
}

/** Runs a job now and then every intervalMs until the app closes; failures are logged, not fatal. */
function every(app: ServiceApp, name: string, intervalMs: number, job: () => Promise<unknown>): void {
  if (intervalMs <= 0) return
  const run = () =>
    job().then(
      (result) => app.log.debug({ job: name, result }, 'housekeeping done'),
      (err) => app.log.error({ err, job: name }, 'housekeeping failed'),
    )
  app.addHook('onReady', async () => {
    void run()
  })
  const timer = setInterval(run, intervalMs)
  timer.unref()
  app.addHook('onClose', async () => clearInterval(timer))
}

export async function buildApp(config: Config, options: { logger?: boolean } = {}): Promise<ServiceApp> {
  const app = await createServiceApp({
    service,
    config,
    upstreams: {
      'identity-api': config.IDENTITY_API_URL,
      'signing-api': config.SIGNING_API_URL,
    },
    ...options,
  })
  await app.register(multipart)
  const blobs = await createFileBlobStore(config.BLOB_DIR)
  const identity = createIdentityClient(app.upstream, config.IDENTITY_API_URL)
  const housekeeping = createHousekeeping(app.database, blobs, {
    graceMs: config.ORPHAN_GRACE_SECONDS * 1000,
  })
  app.decorate('housekeeping', housekeeping)

  recipientRoutes(app, { identity })
  const quota = createUploadQuota(app.database, {
    activeBytes: config.UPLOAD_QUOTA_ACTIVE_BYTES,
    activeCount: config.UPLOAD_QUOTA_ACTIVE_COUNT,
    perHour: config.UPLOAD_RATE_PER_HOUR,
  })
  uploadRoute(app, { blobs, identity, quota, signingApiUrl: config.SIGNING_API_URL })
  bucketRoutes(app, { blobs })

  every(app, 'expire', config.EXPIRY_INTERVAL_SECONDS * 1000, () => housekeeping.expire())
  every(app, 'sweep', config.SWEEP_INTERVAL_SECONDS * 1000, () => housekeeping.sweep())
  every(app, 'forget-reservations', config.SWEEP_INTERVAL_SECONDS * 1000, () => quota.forgetOld())
  return app
}
