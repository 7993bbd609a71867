// identity-api: Users, OpenID Connect sign-in, sessions, MFA and user public keys.
import type { ServiceDefinition } from '@docs-mesh/platform'

export const service: ServiceDefinition = {
  name: 'identity-api',
  serviceAccount: 'identity-sa',
  routePrefix: '/auth',
  database: true,
  owns: ['identity'],
  reads: ['audit'],
}
