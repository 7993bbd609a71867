// Kysely's SQLite dialect, made safe for several processes on one file.
// Every transaction starts with BEGIN IMMEDIATE: it takes the write lock up
// front, waiting (busy timeout) for other processes, instead of failing with
// SQLITE_BUSY when a reader later tries to write in WAL mode. Migrations and
// audit appends rely on it to run one process at a time.
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
} from 'kysely'

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

export class CrossProcessSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig

  constructor(config: SqliteDialectConfig) {
    super(config)
    this.#config = config
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config)
  }
}
