// The owners' migrations grant to the other services' roles when the server has them.
// Between finding a role and granting to it, the role can go (on a server other
// deployments share: the test suites share one, and one of them drops these roles);
// the grant is then skipped, and the migration's transaction stays usable.
import { type Kysely, sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectDatabase, type DatabaseHandle } from '../../src/db/connect.ts'
import { toRole } from '../../src/db/role-grants.ts'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '../../src/testing/test-databases.ts'

const kinds = testDatabaseKinds(process.env).filter((k) => k === 'postgres')

describe.skipIf(kinds.length === 0)('grants to a role on postgres', () => {
  let database: TestDatabase
  let handle: DatabaseHandle
  /** Untyped, as a migration sees the database. */
  const db = () => handle.db as unknown as Kysely<unknown>
  beforeAll(async () => {
    database = await createTestDatabase('postgres', process.env)
    handle = connectDatabase(database.url, { poolSize: 1 })
    await sql`create table things (id integer)`.execute(handle.db)
  })
  afterAll(async () => {
    await handle?.close()
    await database?.drop()
  })

  it('skips a grant to a role that is gone, and the transaction goes on', async () => {
    const after = await db()
      .transaction()
      .execute(async (trx) => {
        await toRole(trx, sql`grant insert on things to docs_mesh_role_that_went`)
        await sql`insert into things (id) values (1)`.execute(trx)
        return (await sql<{ n: number }>`select count(*)::int as n from things`.execute(trx)).rows[0]?.n
      })
    expect(after).toBe(1)
  })

  it('still fails on anything else', async () => {
    await expect(
      db()
        .transaction()
        .execute(async (trx) => {
          await toRole(trx, sql`grant insert on no_such_table to current_user`)
        }),
    ).rejects.toMatchObject({ code: '42P01' })
  })
})
