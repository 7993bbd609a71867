export { createTestDatabase, type TestDatabase, type TestDatabaseKind, testDatabaseKinds } from './test-databases.ts'
