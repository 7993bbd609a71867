// admin-api: Admin views and actions over the shared data.
import type { ServiceDefinition } from '@docs-mesh/platform'

export const service: ServiceDefinition = {
  name: 'admin-api',
  serviceAccount: 'admin-sa',
  routePrefix: '/admin',
  database: true,
  owns: [],
  reads: ['audit', 'identity', 'signing', 'buckets'],
}
