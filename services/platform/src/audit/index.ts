export { type AppendOptions, type AuditEntry, type AuditEvent, appendAuditEntry } from './append-entry.ts'
export { AuditPreconditionFailed } from './batch.ts'
export {
  type CheckpointProblem,
  type CheckpointVerification,
  checkpointMessage,
  checkpointMessageV1,
  verifyCheckpoints,
} from './checkpoints.ts'
export {
  type CoveragePolicy,
  type CoverageProblem,
  type CoverageVerification,
  verifyCoverage,
} from './coverage.ts'
export {
  CURRENT_ENTRY_VERSION,
  canonicalJson,
  entryHash,
  entryHashV1,
  entryHashV2,
  GENESIS_HASH,
  type HashedFields,
  statementDigest,
} from './entry-hash.ts'
export { type AuditVerification, verifyAudit } from './verify-audit.ts'
export {
  type ChainBreak,
  type ChainBreakReason,
  type ChainVerification,
  verifyAuditChain,
} from './verify-chain.ts'
