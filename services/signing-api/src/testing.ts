// signing-api as other services' tests run it beside them: on their database,
// with a fresh key-encryption key, quiet, and no checkpoint schedule (tests
// call the witness themselves).
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ServiceApp } from '@docs-mesh/platform'
import { buildApp } from './app.ts'
import { loadServiceConfig } from './config.ts'

export function buildTestSigningApp(databaseUrl: string): Promise<ServiceApp> {
  return buildApp(
    loadServiceConfig({
      DATABASE_URL: databaseUrl,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      CHECKPOINT_INTERVAL_SECONDS: '0',
      WITNESS_FILE: join(mkdtempSync(join(tmpdir(), 'docs-mesh-witness-')), 'witness.json'),
      // The tests' mesh hop plays the sidecar, adding x-forwarded-client-cert.
      MESH_SIDECAR: 'true',
    }),
    { logger: false },
  )
}
