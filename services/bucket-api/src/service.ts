// bucket-api: Encrypted transfers (buckets) and their blobs.
import type { ServiceDefinition } from '@docs-mesh/platform'

export const service: ServiceDefinition = {
  name: 'bucket-api',
  serviceAccount: 'bucket-sa',
  routePrefix: '/buckets',
  database: true,
  owns: ['buckets'],
  reads: ['audit', 'identity'],
}
