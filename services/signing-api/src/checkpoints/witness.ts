// signing-api as the neutral witness: countersigns the audit chain's head on
// a schedule and on demand. Nothing is signed when the head has not moved.
import { randomUUID } from 'node:crypto'
import { checkpointMessage, type DatabaseHandle } from '@docs-mesh/platform'
import type { SigningKeys } from '../keys/signing-keys.ts'

export interface Checkpoint {
  id: string
  entry_id: number
  entry_hash: string
  key_id: string
  signature: string
  signed_at: string
}

export function createWitness(handle: DatabaseHandle, keys: SigningKeys) {
  async function checkpoint(): Promise<Checkpoint | null> {
    const head = await handle.db
      .selectFrom('audit_entries')
      .select(['id', 'hash'])
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst()
    if (!head) return null
    const last = await handle.db
      .selectFrom('audit_checkpoints')
      .select('entry_id')
      .orderBy('entry_id', 'desc')
      .limit(1)
      .executeTakeFirst()
    if (last && last.entry_id >= head.id) return null
    const signedAt = new Date().toISOString()
    const { keyId, signature } = await keys.signBytes(checkpointMessage(head.id, head.hash, signedAt))
    const row: Checkpoint = {
      id: randomUUID(),
      entry_id: head.id,
      entry_hash: head.hash,
      key_id: keyId,
      signature,
      signed_at: signedAt,
    }
    await handle.db.insertInto('audit_checkpoints').values(row).execute()
    return row
  }

  /** Checkpoints every intervalMs until stopped; a failed round is logged and retried next time. */
  function schedule(intervalMs: number, onError: (error: unknown) => void): () => void {
    const timer = setInterval(() => {
      checkpoint().catch(onError)
    }, intervalMs)
    timer.unref()
    return () => clearInterval(timer)
  }

  return { checkpoint, schedule }
}
