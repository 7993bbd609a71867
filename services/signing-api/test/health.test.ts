import { randomBytes } from 'node:crypto'
import { serviceHealthSuite } from '@docs-mesh/platform/testing'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'
import { service } from '../src/service.ts'

serviceHealthSuite({
  service,
  build: (env) =>
    buildApp(loadServiceConfig({ ...env, KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') }), {
      logger: false,
    }),
})
