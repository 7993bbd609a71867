// A query prepared once runs with each call's values, on both databases, and
// a builder that does not bind an argument as a value is refused up front.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { connectDatabase, type DatabaseHandle } from '../../src/db/connect.ts'
import { migrateGroup } from '../../src/db/migrate.ts'
import { prepareQuery } from '../../src/db/prepared-query.ts'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '../../src/testing/test-databases.ts'

describe.each(testDatabaseKinds(process.env))('prepared queries on %s', (kind) => {
  let database: TestDatabase
  let handle: DatabaseHandle

  beforeEach(async () => {
    database = await createTestDatabase(kind, process.env)
    handle = connectDatabase(database.url)
    await migrateGroup(handle, 'signing')
  })
  afterEach(async () => {
    await handle.close()
    await database.drop()
  })

  it('binds each call its own values, constants of the builder kept', async () => {
    const insert = prepareQuery(handle.db, 2, (keyId: string, revokedAt: string | null) =>
      handle.db.insertInto('signing_keys').values({
        key_id: keyId,
        public_key: 'x',
        private_key_encrypted: 'sealed',
        created_at: '2026-01-01T00:00:00.000Z',
        retired_at: null,
        revoked_at: revokedAt,
        revocation_reason: null,
      }),
    )
    await insert.run('a', null)
    await handle.db.executeQuery(insert.bind('b', '2026-02-01T00:00:00.000Z').compile())
    const find = prepareQuery(handle.db, 1, (keyId: string) =>
      handle.db
        .selectFrom('signing_keys')
        .select(['key_id', 'revoked_at', 'private_key_encrypted'])
        .where('key_id', '=', keyId)
        .where('public_key', '=', 'x'),
    )
    expect(await find.run('a')).toEqual([{ key_id: 'a', revoked_at: null, private_key_encrypted: 'sealed' }])
    expect(await find.run('b')).toEqual([
      { key_id: 'b', revoked_at: '2026-02-01T00:00:00.000Z', private_key_encrypted: 'sealed' },
    ])
    expect(await find.run('c')).toEqual([])
  })

  it('refuses a builder that does not bind an argument as a value', () => {
    expect(() =>
      prepareQuery(handle.db, 1, (_unused: string) => handle.db.selectFrom('signing_keys').select('key_id')),
    ).toThrow(/argument 0/)
  })
})
