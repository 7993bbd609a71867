// Builds identity-api without listening, for the server and for tests.

import {
  appendAuditEntry,
  createServiceApp,
  parseKeyEncryptionKey,
  principalOf,
  type ServiceApp,
  sha256Hex,
} from '@docs-mesh/platform'
import rateLimit from '@fastify/rate-limit'
import type { Config } from './config.ts'
import { createUserKeys } from './keys/user-keys.ts'
import { authLimit } from './limits/auth-limits.ts'
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
  // Counters only: each limited route asks them through authLimit (limits/auth-limits.ts).
  await app.register(rateLimit, { global: false })
  app.decorateRequest('rateLimitKey', '')
  const perMinute = { max: config.AUTH_RATE_LIMIT_PER_MINUTE, timeWindowMs: 60_000 }
  const limits = {
    // No account is known before the provider answers: per address, the start and the callback apart.
    signIn: authLimit(app, { name: 'sign-in', ...perMinute, byAddress: true }),
    signInCallback: authLimit(app, { name: 'sign-in-callback', ...perMinute, byAddress: true }),
    mfaVerify: authLimit(app, {
      name: 'mfa-verify',
      ...perMinute,
      byAddress: true,
      account: (request) => request.session?.userId ?? null,
    }),
    // Each enrolment hashes ten recovery codes with Argon2id (19 MiB each): a few an hour is plenty.
    mfaEnrol: authLimit(app, {
      name: 'mfa-enrol',
      max: config.MFA_ENROL_LIMIT_PER_HOUR,
      timeWindowMs: 3600_000,
      byAddress: false,
      account: (request) => request.session?.userId ?? null,
    }),
    // The exchange's caller is the frontend, so its address says nothing; the browser's binding does.
    codeExchange: authLimit(app, {
      name: 'code-exchange',
      ...perMinute,
      byAddress: false,
      account: (request) => {
        const binding = (request.body as { binding?: unknown } | undefined)?.binding
        return typeof binding === 'string' ? sha256Hex(binding) : null
      },
    }),
  }

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
  // ADMIN_EMAILS is the source of truth for the admin role: a change to it holds from this start on.
  for (const change of await users.syncRoles())
    await appendAuditEntry(app.database, {
      type: 'auth.role_changed',
      data: { ...change, reason: 'ADMIN_EMAILS' },
    })
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
    limits: { start: limits.signIn, callback: limits.signInCallback },
  })
  sessionRoutes(app, { keys, sessions, users, mfa, sessionMaxAgeSeconds: config.SESSION_MAX_AGE_SECONDS })
  mfaRoutes(app, { mfa, users, verifyLimit: limits.mfaVerify, enrolLimit: limits.mfaEnrol })
  keyRoutes(app, { userKeys })
  internalRoutes(app, {
    sessions,
    users,
    mfa,
    frontend: principal('frontend-sa'),
    bucket: principal('bucket-sa'),
    exchangeLimit: limits.codeExchange,
  })
  return app
}
