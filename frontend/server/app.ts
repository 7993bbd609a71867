// Builds the frontend server without listening, for the server and for tests.
import { createServiceApp, type ServiceApp } from '@docs-mesh/platform'
import type { Config } from './config.ts'
import { service } from './service.ts'
import { sessionRoutes } from './session-routes.ts'
import { pageFallback, staticRoutes } from './static-routes.ts'

// No inline script or style anywhere: the app is files from this origin only.
const contentSecurityPolicy = {
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    fontSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
}

export async function buildApp(config: Config, options: { logger?: boolean } = {}): Promise<ServiceApp> {
  const app = await createServiceApp({
    service,
    config,
    helmet: { contentSecurityPolicy },
    upstreams: { 'identity-api': config.IDENTITY_API_URL },
    notFound: pageFallback(config.STATIC_DIR),
    ...options,
  })
  await app.register(staticRoutes, { root: config.STATIC_DIR })
  sessionRoutes(app, { identityApiUrl: config.IDENTITY_API_URL })
  return app
}
