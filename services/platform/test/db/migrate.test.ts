import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { connectDatabase, type DatabaseHandle } from '../../src/db/connect.ts'
import { isGroupMigrated, migrateGroup } from '../../src/db/migrate.ts'
import { migrationGroups } from '../../src/db/migrations/index.ts'
import { openSqlite } from '../../src/db/open-sqlite.ts'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '../../src/testing/test-databases.ts'

const run = promisify(execFile)
const worker = fileURLToPath(new URL('../fixtures/migrate-worker.ts', import.meta.url))

describe.each(testDatabaseKinds(process.env))('migrations on %s', (kind) => {
  let database: TestDatabase
  let handles: DatabaseHandle[]

  beforeEach(async () => {
    database = await createTestDatabase(kind, process.env)
    handles = [connectDatabase(database.url)]
  })
  afterEach(async () => {
    await Promise.all(handles.map((h) => h.close()))
    await database.drop()
  })

  it('applies every group, once, when four services start together', async () => {
    const outputs = await Promise.all(
      [1, 2, 3, 4].map(() =>
        run(process.execPath, ['--disable-warning=ExperimentalWarning', worker, database.url]),
      ),
    )
    const applied = outputs.flatMap((o) => JSON.parse(o.stdout) as string[])
    const groups = Object.keys(migrationGroups) as Array<keyof typeof migrationGroups>
    expect(applied.sort()).toEqual(groups.flatMap((g) => Object.keys(migrationGroups[g])).sort())
    for (const g of groups) expect(await isGroupMigrated(handles[0] as DatabaseHandle, g)).toBe(true)
  }, 60_000)

  it('creates tables both databases read and write the same way', async () => {
    const [h] = handles as [DatabaseHandle]
    await migrateGroup(h, 'identity')
    const now = new Date().toISOString()
    const alice = {
      id: 'u1',
      email: 'a@example.test',
      display_name: 'A',
      role: 'admin' as const,
      created_at: now,
      disabled_at: null,
    }
    await h.db.insertInto('users').values(alice).execute()
    await expect(
      h.db
        .insertInto('users')
        .values({
          id: 'u2',
          email: 'a@example.test',
          display_name: 'B',
          role: 'user',
          created_at: now,
          disabled_at: null,
        })
        .execute(),
    ).rejects.toThrow()
    const row = await h.db.selectFrom('users').selectAll().where('id', '=', 'u1').executeTakeFirstOrThrow()
    expect(row).toEqual(alice)
  })

  it('says a group is not migrated until it is', async () => {
    const [h] = handles as [DatabaseHandle]
    expect(await isGroupMigrated(h, 'identity')).toBe(false)
    await migrateGroup(h, 'identity')
    expect(await isGroupMigrated(h, 'identity')).toBe(true)
    await sql`select 1`.execute(h.db)
  })

  // Six services migrating one SQLite file wait in line for its write lock, each
  // for at most the busy timeout: on a loaded machine the last one waited longer
  // and failed at boot with SQLITE_BUSY.
  it.runIf(kind === 'sqlite')(
    'waits out a write lock held longer than the busy timeout, then migrates',
    async () => {
      const other = openSqlite(database.url)
      other.exec('begin immediate')
      const impatient = connectDatabase(database.url, { busyTimeoutMs: 50 })
      handles.push(impatient)
      const migrating = migrateGroup(impatient, 'identity')
      await new Promise((resolve) => setTimeout(resolve, 500))
      other.exec('commit')
      other.close()
      const { results } = await migrating
      expect(results?.map((r) => r.status)).toEqual(
        Object.keys(migrationGroups.identity).map(() => 'Success'),
      )
      expect(await isGroupMigrated(impatient, 'identity')).toBe(true)
    },
    30_000,
  )
})
