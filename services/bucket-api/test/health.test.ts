import { serviceHealthSuite } from '@docs-mesh/platform/testing'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'
import { service } from '../src/service.ts'

serviceHealthSuite({
  service,
  build: (env) => buildApp(loadServiceConfig(env), { logger: false }),
  upstreams: { 'identity-api': 'IDENTITY_API_URL', 'signing-api': 'SIGNING_API_URL' },
})
