// signing-api: Platform Ed25519 keys, signature records and the audit chain's signed checkpoints.
import type { ServiceDefinition } from '@docs-mesh/platform'

export const service: ServiceDefinition = {
  name: 'signing-api',
  serviceAccount: 'signing-sa',
  routePrefix: '/sign',
  database: true,
  owns: ['audit', 'signing'],
  reads: [],
}
