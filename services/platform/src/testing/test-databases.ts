// Databases for tests: a fresh SQLite file always, and a fresh PostgreSQL
// database when TEST_DATABASE_URL points at a server (CI sets it).
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { requireFor } from './required-tool.ts'

export interface TestDatabase {
  kind: 'sqlite' | 'postgres'
  url: string
  drop(): Promise<void>
}

export type TestDatabaseKind = TestDatabase['kind']

/**
 * The kinds to run database tests on here: SQLite, plus PostgreSQL when a
 * server is configured. Under CI a missing server fails the run.
 */
export function testDatabaseKinds(env: Record<string, string | undefined>): TestDatabaseKind[] {
  const postgres = requireFor(
    'the PostgreSQL runs of the database tests',
    Boolean(env.TEST_DATABASE_URL),
    'TEST_DATABASE_URL',
    env,
  )
  return postgres ? ['sqlite', 'postgres'] : ['sqlite']
}

export async function createTestDatabase(
  kind: TestDatabaseKind,
  env: Record<string, string | undefined>,
): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'docs-mesh-test-'))
    return {
      kind,
      url: join(dir, 'test.sqlite'),
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    }
  }
  const admin = env.TEST_DATABASE_URL
  if (!admin) throw new Error('TEST_DATABASE_URL is not set')
  const name = `docs_mesh_test_${randomBytes(6).toString('hex')}`
  const client = new pg.Client({ connectionString: admin })
  await client.connect()
  // FILE_COPY copies template1's files instead of writing them through the WAL
  // (PostgreSQL 15's default, WAL_LOG): on the throwaway server, which runs with
  // fsync off, that halves the create and drop every database test pays. A
  // server older than 15 knows no strategy and creates the database as before.
  try {
    await client.query(`create database ${name} strategy file_copy`)
  } catch (error) {
    if ((error as { code?: string }).code !== '42601') throw error
    await client.query(`create database ${name}`)
  }
  await client.end()
  const url = new URL(admin)
  url.pathname = `/${name}`
  return {
    kind,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin })
      await c.connect()
      await c.query(`drop database if exists ${name} with (force)`)
      await c.end()
    },
  }
}
