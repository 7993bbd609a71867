// identity-api's configuration: the platform's settings, the OpenID provider,
// who is an admin, the key that seals secrets at rest, session lifetimes and
// the services it calls.
import { loadConfig } from '@docs-mesh/platform'
import Type from 'typebox'

export const ConfigSchema = Type.Object({
  SIGNING_API_URL: Type.String({
    default: 'http://signing-api.docs.svc.cluster.local:8001',
    pattern: '^https?://',
  }),
  /** Where browsers reach the system (the gateway): redirect URIs and the frontend's /app are built from it. */
  PUBLIC_URL: Type.String({ default: 'https://localhost:8443', pattern: '^https?://[^/]+$' }),
  /** The provider's name in /auth/oidc/:provider/...; the same code serves every provider. */
  OIDC_PROVIDER: Type.String({ default: 'local', pattern: '^[a-z][a-z0-9-]{0,63}$' }),
  /** Discovery starts here (/.well-known/openid-configuration). */
  OIDC_ISSUER: Type.String({ pattern: '^https?://' }),
  OIDC_CLIENT_ID: Type.String({ minLength: 1 }),
  OIDC_CLIENT_SECRET: Type.String({ minLength: 16 }),
  /** Comma-separated e-mail addresses that get the admin role when they sign in. */
  ADMIN_EMAILS: Type.String({ default: '' }),
  /** 32 bytes, base64 or base64url: seals TOTP secrets and the session signing keys at rest. */
  IDENTITY_ENCRYPTION_KEY: Type.String({ pattern: '^[A-Za-z0-9+/_-]{43}=?$' }),
  /** How long one session token lives; the app renews it before then. */
  SESSION_TTL_SECONDS: Type.Integer({ default: 900, minimum: 30, maximum: 3600 }),
  /** A session ends this long after sign-in, however often it was renewed. */
  SESSION_MAX_AGE_SECONDS: Type.Integer({ default: 12 * 3600, minimum: 60 }),
  /** A session signing key older than this is replaced at start (its tokens still verify). */
  SESSION_KEY_MAX_AGE_DAYS: Type.Integer({ default: 30, minimum: 1 }),
  /**
   * Per minute, on each of sign-in start, callback, code exchange and MFA verification: per client
   * address (as the gateway vouches for it) and, where the request names one, per account as well.
   */
  AUTH_RATE_LIMIT_PER_MINUTE: Type.Integer({ default: 30, minimum: 1 }),
  /** MFA enrolments per account and hour (each hashes ten recovery codes with Argon2id). */
  MFA_ENROL_LIMIT_PER_HOUR: Type.Integer({ default: 5, minimum: 1 }),
})

export function loadServiceConfig(env: Record<string, string | undefined>) {
  return loadConfig(env, { defaultPort: 8003, schema: ConfigSchema })
}

export type Config = ReturnType<typeof loadServiceConfig>
