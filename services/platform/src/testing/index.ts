export { auditWriterThreadOf } from './audit-writer.ts'
export { startHealthStub } from './health-stub.ts'
export { type MeshHop, startMeshHop } from './mesh-hop.ts'
export { hasCommand, requireFor } from './required-tool.ts'
export { type ServiceHealthSuiteOptions, serviceHealthSuite } from './service-health-suite.ts'
export {
  createTestDatabase,
  type TestDatabase,
  type TestDatabaseKind,
  testDatabaseKinds,
} from './test-databases.ts'
export {
  createTestSession,
  createTestSessionKey,
  type TestSessionKey,
  type TestSessionOptions,
} from './test-sessions.ts'
