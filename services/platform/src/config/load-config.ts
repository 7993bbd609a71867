// Reads the environment once at boot into a typed, validated object. Every
// problem is named in one message, so a misconfigured pod says all at once.
import { Ajv } from 'ajv'
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

/**
 * env-schema's Ajv, with its options (all errors at once, unknown variables removed, defaults,
 * coercion), used directly: env-schema compiles Ajv's meta-schema when it is imported, to check
 * its own options, which was 12 % of an app's start-up CPU (docs/benchmarks.md). The schemas
 * here are TypeBox's, typed and tested, so Ajv does not check them against the meta-schema
 * either (`validateSchema: false`); strict mode still refuses a keyword it does not know.
 */
const configAjv = new Ajv({
  allErrors: true,
  removeAdditional: true,
  useDefaults: true,
  coerceTypes: true,
  allowUnionTypes: true,
  addUsedSchema: false,
  validateSchema: false,
})

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
  // Unknown variables are dropped, defaults filled in, strings coerced ("8000" → 8000, "true" → true).
  const config: Record<string, unknown> = { ...env }
  if (!configAjv.validate({ ...schema, additionalProperties: false }, config)) {
    throw new ConfigError(
      (configAjv.errors ?? []).map((e) => {
        const missing = e.params?.missingProperty
        if (typeof missing === 'string') return `${missing} is required`
        return `${e.instancePath.replace(/^\//, '')} ${e.message ?? 'is invalid'}`
      }),
    )
  }
  const valid = config as ServiceConfig<P>
  // Behind a sidecar the app trusts headers only the sidecar may set: nobody else may reach it.
  if (valid.MESH_SIDECAR && !isLoopback(valid.HOST))
    throw new ConfigError([`HOST must be a loopback address when MESH_SIDECAR is true, not ${valid.HOST}`])
  return valid
}

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
