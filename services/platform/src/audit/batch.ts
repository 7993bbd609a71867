// What the group committer hands a batch writer, and what it gets back: plain
// data (SQL text and bound values, no closures), so a batch can cross to the
// SQLite writer thread as one message.
import type { AuditEntryTable } from '../db/schema.ts'

/** A compiled statement: Kysely's `CompiledQuery` without its syntax tree. */
export interface Statement {
  sql: string
  parameters: readonly unknown[]
}

/** A query that must find a row in the entry's transaction before anything of the entry is written. */
export interface Precondition extends Statement {
  /** The append fails with this code (an AuditPreconditionFailed) when the query finds nothing. */
  code: string
  message: string
}

export interface BatchItem {
  type: string
  /** The payload as canonical JSON. */
  data: string
  requires: readonly Precondition[]
  writes: readonly Statement[]
}

export type ItemOutcome = { entry: AuditEntryTable } | { refused: { code: string; message: string } }

/** Writes a batch in one transaction under the chain's lock; rejects, with nothing committed, when any statement fails. */
export interface BatchWriter {
  write(batch: readonly BatchItem[]): Promise<ItemOutcome[]>
  close(): Promise<void>
}

/** An append whose precondition found nothing: nothing of it was written. */
export class AuditPreconditionFailed extends Error {
  readonly code: string

  constructor(code: string, message: string) {
    super(message)
    this.name = 'AuditPreconditionFailed'
    this.code = code
  }
}

/** Same statement, same values: within one transaction its answer is asked once. */
export const statementKey = (s: Statement): string => `${s.sql}\u0000${JSON.stringify(s.parameters)}`
