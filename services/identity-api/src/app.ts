// Builds identity-api without listening, for the server and for tests.
import { createServiceApp, type ServiceApp } from '@docs-mesh/platform'
import type { Config } from './config.ts'
import { service } from './service.ts'

export async function buildApp(config: Config, options: { logger?: boolean } = {}): Promise<ServiceApp> {
  return createServiceApp({
    service,
    config,
    upstreams: {
      'signing-api': config.SIGNING_API_URL,
    },
    ...options,
  })
}
