// signing-api as the neutral witness: countersigns the audit chain's head on
// a schedule and on demand, every round even when the head has not moved, so
// a recent checkpoint always exists while the chain is intact (verifiers
// require one, see platform/src/audit/coverage.ts). Before signing it checks
// that the database still holds the checkpoint it last signed (kept in its
// own witness file) and that the chain from that entry to the head links up;
// otherwise it refuses (ERR_WITNESS_MISMATCH), and no fresh checkpoint
// appears, which every verifier then reports.
import { randomUUID } from 'node:crypto'
import { checkpointMessage, type DatabaseHandle, entryHash } from '@docs-mesh/platform'
import type { SigningKeys } from '../keys/signing-keys.ts'
import { readWitnessFile, type WitnessedCheckpoint, writeWitnessFile } from './witness-file.ts'

export interface Checkpoint {
  id: string
  sequence: number
  entry_id: number
  entry_hash: string
  key_id: string
  signature: string
  signed_at: string
}

export class WitnessMismatchError extends Error {
  readonly code = 'ERR_WITNESS_MISMATCH'
}

export interface WitnessOptions {
  /** Where the last signed checkpoint is kept, on a volume only signing-api mounts. */
  file: string
  /** Told once, when there is no witness file yet and the database's chain is taken as it is. */
  onFirstStart?: () => void
}

export function createWitness(handle: DatabaseHandle, keys: SigningKeys, options: WitnessOptions) {
  const { db } = handle

  /** Throws unless the database still extends what this witness last signed. */
  async function checkAgainst(witnessed: WitnessedCheckpoint): Promise<void> {
    const mismatch = (what: string) => {
      throw new WitnessMismatchError(
        `the audit chain no longer extends checkpoint ${witnessed.sequence} (entry ${witnessed.entry_id}): ${what}`,
      )
    }
    const row = await db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('id', '=', witnessed.checkpoint_id)
      .executeTakeFirst()
    if (
      !row ||
      row.sequence !== witnessed.sequence ||
      row.entry_id !== witnessed.entry_id ||
      row.entry_hash !== witnessed.entry_hash
    )
      mismatch('the checkpoint is missing or changed')
    let prev: { id: number; hash: string } | null = null
    for (;;) {
      const rows = await db
        .selectFrom('audit_entries')
        .selectAll()
        .where('id', '>=', prev ? prev.id + 1 : witnessed.entry_id)
        .orderBy('id', 'asc')
        .limit(1000)
        .execute()
      for (const entry of rows) {
        if (prev === null) {
          if (entry.id !== witnessed.entry_id || entry.hash !== witnessed.entry_hash)
            mismatch('the witnessed entry is missing or changed')
        } else if (
          entry.id !== prev.id + 1 ||
          entry.prev_hash !== prev.hash ||
          entryHash(entry) !== entry.hash
        )
          mismatch(`entry ${entry.id} does not link to the one before`)
        prev = { id: entry.id, hash: entry.hash }
      }
      if (rows.length < 1000) break
    }
    if (prev === null) mismatch('the witnessed entry is missing')
  }

  let round: Promise<unknown> = Promise.resolve()

  async function sign(): Promise<Checkpoint | null> {
    const witnessed = await readWitnessFile(options.file)
    if (witnessed) await checkAgainst(witnessed)
    else options.onFirstStart?.()
    const head = await db
      .selectFrom('audit_entries')
      .select(['id', 'hash'])
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst()
    if (!head) return null
    const last = await db
      .selectFrom('audit_checkpoints')
      .select((eb) => eb.fn.max('sequence').as('sequence'))
      .executeTakeFirst()
    const sequence = Math.max(witnessed?.sequence ?? 0, Number(last?.sequence ?? 0)) + 1
    const signedAt = new Date().toISOString()
    const { keyId, signature } = await keys.signBytes(
      checkpointMessage(sequence, head.id, head.hash, signedAt),
    )
    const row: Checkpoint = {
      id: randomUUID(),
      sequence,
      entry_id: head.id,
      entry_hash: head.hash,
      key_id: keyId,
      signature,
      signed_at: signedAt,
    }
    await db.insertInto('audit_checkpoints').values(row).execute()
    await writeWitnessFile(options.file, {
      checkpoint_id: row.id,
      sequence,
      entry_id: row.entry_id,
      entry_hash: row.entry_hash,
      signed_at: signedAt,
    })
    return row
  }

  /** Signs the head now; rounds in this process run one at a time. Null for an empty chain. */
  function checkpoint(): Promise<Checkpoint | null> {
    const next = round.then(sign, sign)
    round = next.catch(() => undefined)
    return next
  }

  /** Signs now when the chain has entries and no checkpoint yet (a fresh install), so it is not unwitnessed for a whole interval. */
  async function firstIfNone(): Promise<Checkpoint | null> {
    const any = await db.selectFrom('audit_checkpoints').select('id').limit(1).executeTakeFirst()
    return any ? null : checkpoint()
  }

  /**
   * Checkpoints every intervalMs until stopped, and looks every firstCheckMs for a chain
   * with no checkpoint at all; a failed round is reported and retried next time.
   */
  function schedule(intervalMs: number, onError: (error: unknown) => void, firstCheckMs = 5000): () => void {
    const timers = [
      setInterval(() => checkpoint().catch(onError), intervalMs),
      setInterval(() => firstIfNone().catch(onError), Math.min(firstCheckMs, intervalMs)),
    ]
    for (const timer of timers) timer.unref()
    return () => {
      for (const timer of timers) clearInterval(timer)
    }
  }

  return { checkpoint, firstIfNone, schedule }
}
