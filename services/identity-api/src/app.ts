// Builds identity-api without listening, for the server and for tests.

import {
  createServiceApp,
  HttpProblem,
  parseKeyEncryptionKey,
  principalOf,
  type ServiceApp,
} from '@docs-mesh/platform'
import rateLimit from '@fastify/rate-limit'
import type { Config } from './config.ts'
import { createUserKeys } from './keys/user-keys.ts'
import { createMfa } from './mfa/mfa.ts'
import { createRelyingParty } from './oidc/relying-party.ts'
import { internalRoutes } from './routes/internal.ts'
import { keyRoutes } from './routes/keys.ts'
import { mfaRoutes } from './routes/mfa.ts'
import { oidcRoutes } from './routes/oidc.ts'
import { sessionRoutes } from './routes/sessions.ts'
import { service } from './service.ts'
import { createSessionKeys } from './sessions/session-keys.ts'
import { createSessions } from './sessions/sessions.ts'
import { createUsers, parseAdminEmails } from './users/users.ts'

const DAY_MS = 24 * 3600_000

export async function buildApp(config: Config, options: { logger?: boolean } = {}): Promise<ServiceApp> {
  const app = await createServiceApp({
    service,
    config,
    upstreams: { 'signing-api': config.SIGNING_API_URL },
    ...options,
  })
  await app.register(rateLimit, {
    global: false,
    keyGenerator: (request) => request.ip,
    errorResponseBuilder: (_request, context) =>
      new HttpProblem(429, 'ERR_RATE_LIMITED', `too many requests; try again in ${context.after}`),
  })

  const kek = parseKeyEncryptionKey(config.IDENTITY_ENCRYPTION_KEY)
  const keys = createSessionKeys(app.database, {
    kek,
    maxAgeMs: config.SESSION_KEY_MAX_AGE_DAYS * DAY_MS,
    tokenLifetimeMs: config.SESSION_TTL_SECONDS * 1000,
    log: app.log,
  })
  // Now, so the first sign-in does not wait for a key (a row it cannot open is skipped, logged).
  await keys.active()
  const sessions = createSessions(app.database, {
    keys,
    issuer: config.SESSION_ISSUER,
    audience: config.SESSION_AUDIENCE,
    ttlMs: config.SESSION_TTL_SECONDS * 1000,
    maxAgeMs: config.SESSION_MAX_AGE_SECONDS * 1000,
  })
  const users = createUsers(app.database, { adminEmails: parseAdminEmails(config.ADMIN_EMAILS) })
  const mfa = createMfa(app.database, { kek })
  const userKeys = createUserKeys(app.database, {
    upstream: app.upstream,
    signingApiUrl: config.SIGNING_API_URL,
  })
  const relyingParty = createRelyingParty({
    issuer: config.OIDC_ISSUER,
    clientId: config.OIDC_CLIENT_ID,
    clientSecret: config.OIDC_CLIENT_SECRET,
    redirectUri: `${config.PUBLIC_URL}/auth/oidc/${config.OIDC_PROVIDER}/callback`,
  })
  const principal = (sa: string) => principalOf(config.TRUST_DOMAIN, config.POD_NAMESPACE, sa)

  oidcRoutes(app, {
    provider: config.OIDC_PROVIDER,
    publicUrl: config.PUBLIC_URL,
    relyingParty,
    users,
    sessions,
    rateLimitPerMinute: config.AUTH_RATE_LIMIT_PER_MINUTE,
  })
  sessionRoutes(app, { keys, sessions, users, mfa, sessionMaxAgeSeconds: config.SESSION_MAX_AGE_SECONDS })
  mfaRoutes(app, { mfa, users, rateLimitPerMinute: config.AUTH_RATE_LIMIT_PER_MINUTE })
  keyRoutes(app, { userKeys })
  internalRoutes(app, {
    sessions,
    users,
    mfa,
    frontend: principal('frontend-sa'),
    bucket: principal('bucket-sa'),
  })
  return app
}
