import { randomBytes } from 'node:crypto'
import { serviceHealthSuite } from '@docs-mesh/platform/testing'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'
import { service } from '../src/service.ts'

serviceHealthSuite({
  service,
  build: (env) =>
    buildApp(
      loadServiceConfig({
        // Discovery waits for the first sign-in, so health needs no provider running.
        OIDC_ISSUER: 'http://127.0.0.1:9/',
        OIDC_CLIENT_ID: 'docs-mesh',
        OIDC_CLIENT_SECRET: randomBytes(32).toString('base64url'),
        IDENTITY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
        ...env,
      }),
      { logger: false },
    ),
  upstreams: { 'signing-api': 'SIGNING_API_URL' },
})
