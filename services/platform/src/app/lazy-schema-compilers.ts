// SCHEMA_COMPILE=lazy (what `pnpm dev` sets): each route's schemas compiled the
// first time the route uses them instead of when the route is registered. At
// start-up an app compiled every schema of every route, 15-21 % of the CPU it
// spent until it listened (a profile of every process of a warm start), while
// fifteen other processes started on the same cores; most routes are not called
// in the first seconds of a session, if at all.
//
// Fastify's own compilers still do the compiling, with the same options and the
// same schemas, and Fastify still prepares each schema as it does by default (it
// lowercases a headers schema, for one, but only while its default validator
// compiler is in use: a custom `compilersFactory.buildValidator` turns that off,
// lib/schema-controller.js and lib/route.js). So validation is made lazy inside
// that default compiler's Ajv instance, through its documented `ajv.onCreate`
// hook; responses, whose serializer compiler Fastify treats the same custom or
// not, through `compilersFactory.buildSerializer`.
//
// What it gives up: a schema Ajv or fast-json-stringify cannot compile fails the
// first request that needs it (a 500, its error in the log) instead of the app's
// start. Tests, the e2e system and the cluster compile eagerly (the default), so
// such a schema cannot land; `pnpm dev` is where it trades that for start-up time,
// as a dev server compiles modules on first request.
import SerializerSelector from '@fastify/fast-json-stringify-compiler'
import type { Ajv } from 'ajv'

type Validate = ((data: unknown, context?: unknown) => unknown) & {
  errors?: unknown
  schemaEnv?: unknown
  schema?: unknown
}

/** A validator that compiles on its first call, or when Fastify first asks about it. */
function lazyValidator(compile: () => Validate): Validate {
  let compiled: Validate | undefined
  const get = () => {
    compiled ??= compile()
    return compiled
  }
  const validate = ((data: unknown, context?: unknown) =>
    context === undefined ? get()(data) : get()(data, context)) as Validate
  // Fastify reads `schemaEnv` before each call (to let Ajv coerce a root value)
  // and `errors` after a failed one: both, and `schema`, are the compiled function's.
  Object.defineProperties(validate, {
    schemaEnv: { get: () => get().schemaEnv },
    errors: { get: () => get().errors },
    schema: { get: () => get().schema },
  })
  return validate
}

/**
 * Fastify's `ajv.onCreate`: the validator compiler's Ajv instance hands out a
 * validator that compiles on first use. (A route schema's `$id` is never looked
 * up later: the compiler's Ajv runs with `addUsedSchema: false`, so only the
 * schemas added with `addSchema` are found by id, and Ajv compiles those itself.)
 */
export function compileOnFirstUse(ajv: Ajv): void {
  const compile = ajv.compile.bind(ajv) as (schema: unknown, meta?: boolean) => Validate
  ajv.compile = ((schema: unknown, meta?: boolean) =>
    lazyValidator(() => compile(schema, meta))) as unknown as Ajv['compile']
}

/** Fastify's `compilersFactory.buildSerializer`: fast-json-stringify, compiling each response schema on first use. */
export function lazySerializers(): ReturnType<typeof SerializerSelector> {
  const serializers = SerializerSelector()
  return (...args) => {
    const build = serializers(...args)
    return (route) => {
      let compiled: SerializerSelector.Serializer | undefined
      return (data) => {
        compiled ??= build(route)
        return compiled(data)
      }
    }
  }
}
