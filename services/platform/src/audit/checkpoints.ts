// Signed checkpoints of the audit chain: signing-api, the neutral witness,
// signs the head (entry id and hash) with the platform key. A checkpoint
// pins everything up to its entry: rewriting or cutting the chain below it,
// even with every hash recomputed, no longer matches what was signed.
import { createPublicKey, verify } from 'node:crypto'
import type { DatabaseHandle } from '../db/connect.ts'

export const checkpointMessage = (entryId: number, entryHash: string, signedAt: string): Buffer =>
  Buffer.from(`docs-mesh audit checkpoint v1\n${entryId}\n${entryHash}\n${signedAt}`)

export type CheckpointProblem =
  | 'entry_missing'
  | 'hash_mismatch'
  | 'bad_signature'
  | 'unknown_key'
  | 'revoked_key'

export interface CheckpointVerification {
  valid: boolean
  checkpoints: number
  problems: Array<{ checkpoint_id: string; entry_id: number; problem: CheckpointProblem }>
}

export async function verifyCheckpoints(handle: DatabaseHandle): Promise<CheckpointVerification> {
  const checkpoints = await handle.db
    .selectFrom('audit_checkpoints')
    .selectAll()
    .orderBy('entry_id', 'asc')
    .execute()
  const problems: CheckpointVerification['problems'] = []
  const keys = new Map<string, { public_key: string; revoked_at: string | null } | undefined>()
  for (const cp of checkpoints) {
    const report = (problem: CheckpointProblem) =>
      problems.push({ checkpoint_id: cp.id, entry_id: cp.entry_id, problem })
    if (!keys.has(cp.key_id)) {
      keys.set(
        cp.key_id,
        await handle.db
          .selectFrom('signing_keys')
          .select(['public_key', 'revoked_at'])
          .where('key_id', '=', cp.key_id)
          .executeTakeFirst(),
      )
    }
    const key = keys.get(cp.key_id)
    if (!key) {
      report('unknown_key')
      continue
    }
    const publicKey = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: key.public_key },
      format: 'jwk',
    })
    if (
      !verify(
        null,
        checkpointMessage(cp.entry_id, cp.entry_hash, cp.signed_at),
        publicKey,
        Buffer.from(cp.signature, 'base64url'),
      )
    ) {
      report('bad_signature')
      continue
    }
    if (key.revoked_at !== null && key.revoked_at <= cp.signed_at) report('revoked_key')
    const entry = await handle.db
      .selectFrom('audit_entries')
      .select('hash')
      .where('id', '=', cp.entry_id)
      .executeTakeFirst()
    if (!entry) report('entry_missing')
    else if (entry.hash !== cp.entry_hash) report('hash_mismatch')
  }
  return { valid: problems.length === 0, checkpoints: checkpoints.length, problems }
}
