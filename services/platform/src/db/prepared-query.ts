// A query built and compiled once, then run (or handed on) with new values.
// Kysely builds a query's syntax tree and compiles it to SQL on every call;
// for a one-row lookup or insert on a hot path (POST /verify's key, POST
// /sign's record) that was about a tenth of the request's CPU. The builder is
// called once with placeholders standing for the arguments, and each use
// binds the arguments where the placeholders landed among the parameters.
// A builder that transforms an argument (rather than binding it as a value)
// has no place for it: that is refused when the query is prepared.
import type { Compilable, CompiledQuery, Kysely } from 'kysely'

export interface PreparedQuery<A extends unknown[], R> {
  /** Runs the query with these arguments: its rows. */
  run(...args: A): Promise<R[]>
  /** The query with these arguments, compiled, for what takes a query to run later (appendAuditEntry's writes). */
  bind(...args: A): Compilable<R>
}

export function prepareQuery<A extends unknown[], R>(
  // biome-ignore lint/suspicious/noExplicitAny: any database's queries compile the same way
  db: Kysely<any>,
  arity: A['length'],
  build: (...args: A) => Compilable<R>,
): PreparedQuery<A, R> {
  const placeholders = Array.from({ length: arity }, (_, i) => `\u0000prepared-query-argument-${i}\u0000`)
  const compiled = build(...(placeholders as A)).compile()
  const slots = compiled.parameters.map((p) => placeholders.indexOf(p as string))
  for (const [i, placeholder] of placeholders.entries())
    if (!slots.includes(i))
      throw new Error(`prepareQuery: argument ${i} (${placeholder.trim()}) is not bound as a value`)
  const withArgs = (args: A): CompiledQuery<R> => ({
    ...compiled,
    parameters: slots.map((slot, i) => (slot >= 0 ? args[slot] : compiled.parameters[i])),
  })
  return {
    async run(...args) {
      return (await db.executeQuery(withArgs(args))).rows
    },
    bind(...args) {
      return { compile: () => withArgs(args) }
    },
  }
}
