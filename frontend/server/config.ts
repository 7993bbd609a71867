// The frontend server's configuration: the platform's settings, where the
// built app lives, and identity-api (for the session exchange).
import { loadConfig } from '@docs-mesh/platform'
import Type from 'typebox'

export const ConfigSchema = Type.Object({
  /** The Vite build, relative to the working directory. */
  STATIC_DIR: Type.String({ default: 'dist/client', minLength: 1 }),
  IDENTITY_API_URL: Type.String({
    default: 'http://identity-api.docs.svc.cluster.local:8003',
    pattern: '^https?://',
  }),
})

export function loadServiceConfig(env: Record<string, string | undefined>) {
  return loadConfig(env, { defaultPort: 8080, schema: ConfigSchema })
}

export type Config = ReturnType<typeof loadServiceConfig>
