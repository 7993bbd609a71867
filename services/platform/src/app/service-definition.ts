// What the platform needs to know about a service to build its app.
import type { MigrationGroup } from '../db/migrations/index.ts'

export interface ServiceDefinition {
  /** The Deployment and Service name, e.g. `bucket-api`. */
  name: string
  /** Its Kubernetes ServiceAccount, which is its SPIFFE identity. */
  serviceAccount: string
  /** The gateway route prefix its public routes and OpenAPI document live under ('' for the frontend). */
  routePrefix: string
  /** false for a service that must not touch the shared database at all (the frontend). */
  database: boolean
  /** Migration groups this service owns and runs at start. */
  owns: readonly MigrationGroup[]
  /** Migration groups owned by others whose tables this service reads: it is not ready until they exist. */
  reads: readonly MigrationGroup[]
}
