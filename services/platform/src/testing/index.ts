export { startHealthStub } from './health-stub.ts'
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
