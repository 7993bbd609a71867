// The identity-api process.
import { runService } from '@docs-mesh/platform'
import { buildApp } from './app.ts'
import { loadServiceConfig } from './config.ts'

await runService(() => loadServiceConfig(process.env), buildApp)
