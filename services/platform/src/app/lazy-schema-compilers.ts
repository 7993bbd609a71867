// SCHEMA_COMPILE=lazy (what `pnpm dev` sets): Fastify's own compilers, Ajv for
// validation and fast-json-stringify for responses, each route's schema compiled
// the first time the route uses it instead of when the route is registered. At
// start-up an app compiled every schema of every route, 15-21 % of the CPU it
// spent until it listened (a profile of every process of a warm start), while
// fifteen other processes started on the same cores; most routes are not called in the first seconds of a session, if
// at all. The compiled functions are the ones Fastify would have made: the same
// compilers, the same options, the same schemas.
//
// What it gives up: a schema Ajv or fast-json-stringify cannot compile fails
// the first request that needs it (a 500, its error in the log) instead of the
// app's start. Tests, the e2e system and the cluster compile eagerly (the
// default), so such a schema cannot land; `pnpm dev` is where it trades that for
// start-up time, as a dev server compiles modules on first request.
import AjvCompiler from '@fastify/ajv-compiler'
import SerializerSelector from '@fastify/fast-json-stringify-compiler'
import type { FastifyServerOptions } from 'fastify'

type CompilersFactory = NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']

type Validate = ((data: unknown, context?: unknown) => unknown) & { errors?: unknown; schemaEnv?: unknown }

export class LazySchemaError extends Error {
  readonly code = 'ERR_LAZY_SCHEMA_HEADERS'
}

/**
 * Names a headers schema gives in upper case. Fastify lowercases a headers schema
 * only when its own compiler is in use (lib/validation.js, lowerCaseHeadersSchema);
 * with a compiler factory of ours it takes the schema as it is, so a mixed-case
 * header name would never match Node's lowercased headers.
 */
function mixedCaseHeaderNames(schema: unknown, found: string[] = []): string[] {
  if (Array.isArray(schema)) {
    for (const item of schema) mixedCaseHeaderNames(item, found)
    return found
  }
  if (schema === null || typeof schema !== 'object') return found
  const node = schema as Record<string, unknown>
  const properties = node.properties
  if (properties !== null && typeof properties === 'object')
    for (const name of Object.keys(properties)) if (name !== name.toLowerCase()) found.push(name)
  if (Array.isArray(node.required))
    for (const name of node.required)
      if (typeof name === 'string' && name !== name.toLowerCase()) found.push(name)
  for (const value of Object.values(node)) mixedCaseHeaderNames(value, found)
  return found
}

/** A validator that compiles on its first call (or when Fastify first asks about it). */
function lazyValidator(compile: () => Validate): Validate {
  let compiled: Validate | undefined
  const get = () => {
    compiled ??= compile()
    return compiled
  }
  const validate = ((data: unknown, context?: unknown) =>
    context === undefined ? get()(data) : get()(data, context)) as Validate
  // Fastify reads `schemaEnv` before each call (to let Ajv coerce a root value)
  // and `errors` after a failed one: both are the compiled function's.
  Object.defineProperties(validate, {
    schemaEnv: { get: () => get().schemaEnv },
    errors: { get: () => get().errors },
  })
  return validate
}

/** Fastify's `schemaController.compilersFactory`, compiling each route's schemas on first use. */
export function lazySchemaCompilers(): CompilersFactory {
  const validators = AjvCompiler()
  const serializers = SerializerSelector()
  return {
    buildValidator(...args: Parameters<typeof validators>) {
      const build = validators(...args)
      return (route: AjvCompiler.RouteDefinition) => {
        if (route.httpPart === 'headers') {
          const names = mixedCaseHeaderNames(route.schema)
          if (names.length > 0)
            throw new LazySchemaError(
              `${route.method} ${route.url}: header names in a headers schema must be lower case under SCHEMA_COMPILE=lazy (${names.join(', ')})`,
            )
        }
        return lazyValidator(() => build(route) as Validate) as ReturnType<typeof build>
      }
    },
    buildSerializer(...args: Parameters<typeof serializers>) {
      const build = serializers(...args)
      return (route: SerializerSelector.RouteDefinition) => {
        let compiled: SerializerSelector.Serializer | undefined
        return (data: unknown) => {
          compiled ??= build(route)
          return compiled(data)
        }
      }
    },
  }
}
