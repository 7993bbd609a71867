// The whole verdict on the audit trail: every link, every checkpoint, and a
// recent checkpoint over the head. Valid only when all three are.
import type { DatabaseHandle } from '../db/connect.ts'
import { type CheckpointVerification, verifyCheckpoints } from './checkpoints.ts'
import { type CoveragePolicy, type CoverageVerification, verifyCoverage } from './coverage.ts'
import { type ChainVerification, verifyAuditChain } from './verify-chain.ts'

export interface AuditVerification {
  valid: boolean
  chain: ChainVerification
  checkpoints: CheckpointVerification
  coverage: CoverageVerification
}

export async function verifyAudit(
  handle: DatabaseHandle,
  policy: CoveragePolicy,
  now: Date = new Date(),
): Promise<AuditVerification> {
  const chain = await verifyAuditChain(handle)
  const checkpoints = await verifyCheckpoints(handle)
  const coverage = verifyCoverage(chain, checkpoints, policy, now)
  return { valid: chain.valid && checkpoints.valid && coverage.valid, chain, checkpoints, coverage }
}
