// For tests that make the audit chain's SQLite writer thread die as a crash
// would (see audit/sqlite-writer-thread.ts): the thread of a handle's group
// committer, or null where batches are written in the handle's own
// transactions (PostgreSQL, an in-memory SQLite database).
import { groupCommitterOf } from '../audit/group-commit.ts'
import { SqliteWriterThread } from '../audit/sqlite-writer-thread.ts'
import type { DatabaseHandle } from '../db/connect.ts'

export function auditWriterThreadOf(handle: DatabaseHandle): SqliteWriterThread | null {
  const writer = groupCommitterOf(handle).writer
  return writer instanceof SqliteWriterThread ? writer : null
}
