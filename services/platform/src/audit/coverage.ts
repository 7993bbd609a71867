// Whether the chain's head is covered by a recent checkpoint. signing-api
// signs a checkpoint on every round of its schedule, even when the head has
// not moved, and refuses to sign a chain that does not extend the checkpoint
// it keeps in its own witness file. So the only way a database writer can
// hide a rewrite is to leave no fresh checkpoint behind, and that is what
// this check reports. "Recent": the latest checkpoint was signed at most
// maxAgeSeconds ago, and the head is at most maxEntriesBehind entries past it.
import type { CheckpointVerification } from './checkpoints.ts'
import type { ChainVerification } from './verify-chain.ts'

export interface CoveragePolicy {
  maxAgeSeconds: number
  maxEntriesBehind: number
}

export type CoverageProblem = 'no_checkpoint' | 'stale_checkpoint' | 'head_not_covered'

export interface CoverageVerification {
  valid: boolean
  problem: CoverageProblem | null
  head_id: number | null
  checkpoint_entry_id: number | null
  entries_behind: number
  checkpoint_age_seconds: number | null
}

export function verifyCoverage(
  chain: Pick<ChainVerification, 'head'>,
  checkpoints: Pick<CheckpointVerification, 'latest'>,
  policy: CoveragePolicy,
  now: Date = new Date(),
): CoverageVerification {
  const headId = chain.head?.id ?? null
  const latest = checkpoints.latest
  const result = (problem: CoverageProblem | null, behind: number, age: number | null) => ({
    valid: problem === null,
    problem,
    head_id: headId,
    checkpoint_entry_id: latest?.entry_id ?? null,
    entries_behind: behind,
    checkpoint_age_seconds: age,
  })
  // An empty chain has nothing to vouch for.
  if (headId === null) return result(null, 0, null)
  // Entries without any checkpoint: never valid, or deleting the table would be.
  if (!latest) return result('no_checkpoint', headId, null)
  const age = Math.floor((now.getTime() - Date.parse(latest.signed_at)) / 1000)
  const behind = Math.max(0, headId - latest.entry_id)
  if (!(age <= policy.maxAgeSeconds)) return result('stale_checkpoint', behind, age)
  if (behind > policy.maxEntriesBehind) return result('head_not_covered', behind, age)
  return result(null, behind, age)
}
