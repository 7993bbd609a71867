// admin-api's configuration: the platform's settings.
import { loadConfig } from '@docs-mesh/platform'

export function loadServiceConfig(env: Record<string, string | undefined>) {
  return loadConfig(env, { defaultPort: 8005 })
}

export type Config = ReturnType<typeof loadServiceConfig>
