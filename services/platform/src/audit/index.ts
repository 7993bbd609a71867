export { type AuditEntry, type AuditEvent, appendAuditEntry } from './append-entry.ts'
export {
  type CheckpointProblem,
  type CheckpointVerification,
  checkpointMessage,
  verifyCheckpoints,
} from './checkpoints.ts'
export { canonicalJson, entryHash, GENESIS_HASH, statementDigest } from './entry-hash.ts'
export {
  type ChainBreak,
  type ChainBreakReason,
  type ChainVerification,
  verifyAuditChain,
} from './verify-chain.ts'
