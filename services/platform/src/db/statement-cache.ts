// Reuses SQLite's prepared statements. Kysely's SQLite driver prepares every
// query afresh; a query compiles to the same SQL text each time (values are
// bound parameters), so a statement prepared once serves every later run.
// Bounded, least recently used out first; a statement still being iterated
// (busy) is never handed out twice.
import type SQLite from 'better-sqlite3'

export function cachePreparedStatements(database: SQLite.Database, max = 500): SQLite.Database {
  const prepare = database.prepare.bind(database)
  const statements = new Map<string, SQLite.Statement>()
  database.prepare = ((source: string) => {
    const cached = statements.get(source)
    if (cached && !cached.busy) {
      // Most recently used last.
      statements.delete(source)
      statements.set(source, cached)
      return cached
    }
    const statement = prepare(source)
    if (!cached) {
      statements.set(source, statement)
      if (statements.size > max) statements.delete(statements.keys().next().value as string)
    }
    return statement
  }) as typeof database.prepare
  return database
}
