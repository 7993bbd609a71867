// Signed checkpoints of the audit chain: signing-api, the neutral witness,
// signs the head (entry id and hash) with the platform key. A checkpoint
// pins everything up to its entry: rewriting or cutting the chain below it,
// even with every hash recomputed, no longer matches what was signed.
// Since v2 each checkpoint carries its sequence number inside the signed
// message, so a deleted checkpoint leaves a gap, and checkpoints signed in one
// order cannot be presented in another.
import { createPublicKey, verify } from 'node:crypto'
import type { DatabaseHandle } from '../db/connect.ts'

/** The v1 message (no sequence), kept to verify the first checkpoints. */
export const checkpointMessageV1 = (entryId: number, entryHash: string, signedAt: string): Buffer =>
  Buffer.from(`docs-mesh audit checkpoint v1\n${entryId}\n${entryHash}\n${signedAt}`)

export const checkpointMessage = (
  sequence: number,
  entryId: number,
  entryHash: string,
  signedAt: string,
): Buffer => Buffer.from(`docs-mesh audit checkpoint v2\n${sequence}\n${entryId}\n${entryHash}\n${signedAt}`)

export type CheckpointProblem =
  | 'entry_missing'
  | 'hash_mismatch'
  | 'bad_signature'
  | 'unknown_key'
  | 'revoked_key'
  | 'sequence_gap'
  | 'out_of_order'

export interface CheckpointVerification {
  valid: boolean
  checkpoints: number
  problems: Array<{ checkpoint_id: string; entry_id: number; problem: CheckpointProblem }>
  /** The last checkpoint in signing order, whatever its problems. */
  latest: { sequence: number | null; entry_id: number; signed_at: string } | null
}

export async function verifyCheckpoints(handle: DatabaseHandle): Promise<CheckpointVerification> {
  const rows = await handle.db.selectFrom('audit_checkpoints').selectAll().execute()
  // Signing order: the v1 checkpoints (no sequence) came first, by time; then by sequence.
  const checkpoints = rows.sort((a, b) =>
    a.sequence === null || b.sequence === null
      ? a.sequence === b.sequence
        ? a.signed_at.localeCompare(b.signed_at)
        : a.sequence === null
          ? -1
          : 1
      : a.sequence - b.sequence,
  )
  const problems: CheckpointVerification['problems'] = []
  const keys = new Map<string, { public_key: string; revoked_at: string | null } | undefined>()
  let previous: (typeof checkpoints)[number] | undefined
  for (const cp of checkpoints) {
    const report = (problem: CheckpointProblem) =>
      problems.push({ checkpoint_id: cp.id, entry_id: cp.entry_id, problem })
    if (previous) {
      if (cp.sequence !== null && previous.sequence !== null && cp.sequence !== previous.sequence + 1)
        report('sequence_gap')
      if (cp.entry_id < previous.entry_id || cp.signed_at < previous.signed_at) report('out_of_order')
    }
    previous = cp
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
    const message =
      cp.sequence === null
        ? checkpointMessageV1(cp.entry_id, cp.entry_hash, cp.signed_at)
        : checkpointMessage(cp.sequence, cp.entry_id, cp.entry_hash, cp.signed_at)
    if (!verify(null, message, publicKey, Buffer.from(cp.signature, 'base64url'))) {
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
  const last = checkpoints.at(-1)
  return {
    valid: problems.length === 0,
    checkpoints: checkpoints.length,
    problems,
    latest: last ? { sequence: last.sequence, entry_id: last.entry_id, signed_at: last.signed_at } : null,
  }
}
