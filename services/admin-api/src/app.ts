// Builds admin-api without listening, for the server and for tests.
import { createServiceApp, type ServiceApp } from '@docs-mesh/platform'
import type { Config } from './config.ts'
import { adminRoutes } from './routes/admin.ts'
import { mfaResetRoutes } from './routes/mfa-reset.ts'
import { service } from './service.ts'

export async function buildApp(config: Config, options: { logger?: boolean } = {}): Promise<ServiceApp> {
  const app = await createServiceApp({ service, config, ...options })
  adminRoutes(app, {
    coverage: {
      maxAgeSeconds: config.AUDIT_CHECKPOINT_MAX_AGE_SECONDS,
      maxEntriesBehind: config.AUDIT_CHECKPOINT_MAX_ENTRIES_BEHIND,
    },
  })
  mfaResetRoutes(app)
  return app
}
