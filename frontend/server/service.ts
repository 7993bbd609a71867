// frontend: serves the single-page app. It never touches the shared database.
import type { ServiceDefinition } from '@docs-mesh/platform'

export const service: ServiceDefinition = {
  name: 'frontend',
  serviceAccount: 'frontend-sa',
  routePrefix: '',
  database: false,
  owns: [],
  reads: [],
}
