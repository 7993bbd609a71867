// Reads the environment once at boot into a typed, validated object. Every
// problem is named in one message, so a misconfigured pod says all at once.
import envSchema from 'env-schema'
import Type, { type Static, type TObject, type TProperties } from 'typebox'
import { BaseConfigSchema } from './base-config.ts'

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG_INVALID'
  readonly problems: string[]

  constructor(problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

export type BaseConfig = Static<typeof BaseConfigSchema> & { PORT: number }

type ServiceConfig<P extends TProperties> = BaseConfig & Static<TObject<P>>

export function loadConfig<P extends TProperties>(
  env: Record<string, string | undefined>,
  service: { defaultPort: number; schema?: TObject<P> },
): ServiceConfig<P> {
  const schema = Type.Object({
    ...BaseConfigSchema.properties,
    PORT: Type.Integer({ default: service.defaultPort, minimum: 0, maximum: 65535 }),
    ...(service.schema?.properties ?? ({} as P)),
  })
  let config: ServiceConfig<P>
  try {
    config = envSchema({ schema, data: { ...env }, env: false, dotenv: false }) as ServiceConfig<P>
  } catch (error) {
    const errors = (
      error as {
        errors?: Array<{ instancePath: string; message?: string; params?: Record<string, unknown> }>
      }
    ).errors
    if (!errors) throw error
    throw new ConfigError(
      errors.map((e) => {
        const missing = e.params?.missingProperty
        if (typeof missing === 'string') return `${missing} is required`
        return `${e.instancePath.replace(/^\//, '')} ${e.message ?? 'is invalid'}`
      }),
    )
  }
  // Behind a sidecar the app trusts headers only the sidecar may set: nobody else may reach it.
  if (config.MESH_SIDECAR && !isLoopback(config.HOST))
    throw new ConfigError([`HOST must be a loopback address when MESH_SIDECAR is true, not ${config.HOST}`])
  return config
}

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
