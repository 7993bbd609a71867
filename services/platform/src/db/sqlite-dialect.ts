// Kysely's SQLite dialect, made safe for several processes on one file.
// Every transaction starts with BEGIN IMMEDIATE: it takes the write lock up
// front, waiting (busy timeout) for other processes, instead of failing with
// SQLITE_BUSY when a reader later tries to write in WAL mode. And migrations
// run in such a transaction: SQLite's DDL is transactional, but Kysely's
// SQLite adapter says it is not, so by default services starting together
// would race to create the same tables.
import {
  CompiledQuery,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  SqliteAdapter,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
} from 'kysely'

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true
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

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter()
  }
}
