// Builds verification-api without listening, for the server and for tests.
import { createServiceApp, principalOf, type ServiceApp } from '@docs-mesh/platform'
import type { Config } from './config.ts'
import { verifyRoutes } from './routes/verify.ts'
import { service } from './service.ts'

export async function buildApp(config: Config, options: { logger?: boolean } = {}): Promise<ServiceApp> {
  const app = await createServiceApp({ service, config, ...options })
  verifyRoutes(app, {
    attestationCaller: principalOf(config.TRUST_DOMAIN, config.POD_NAMESPACE, 'identity-sa'),
  })
  return app
}
