// identity-api's configuration: the platform's settings, plus the services it calls.
import { loadConfig } from '@docs-mesh/platform'
import Type from 'typebox'

export const ConfigSchema = Type.Object({
  SIGNING_API_URL: Type.String({
    default: 'http://signing-api.docs.svc.cluster.local:8001',
    pattern: '^https?://',
  }),
})

export function loadServiceConfig(env: Record<string, string | undefined>) {
  return loadConfig(env, { defaultPort: 8003, schema: ConfigSchema })
}

export type Config = ReturnType<typeof loadServiceConfig>
