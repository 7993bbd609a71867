// verification-api: Read-only verification of signatures and key trust.
import type { ServiceDefinition } from '@docs-mesh/platform'

export const service: ServiceDefinition = {
  name: 'verification-api',
  serviceAccount: 'verification-sa',
  routePrefix: '/verify',
  database: true,
  owns: [],
  reads: ['signing', 'identity'],
}
