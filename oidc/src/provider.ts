// oidc-provider configured as the local stand-in for Google: authorization
// code flow only, PKCE (S256) required for every client, discovery at
// /.well-known/openid-configuration, claims email and profile.
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import Provider, { type ClientMetadata } from 'oidc-provider'
import type { LocalUser } from './users.ts'

export interface LocalProviderOptions {
  issuer: string
  clients: ClientMetadata[]
  users: readonly LocalUser[]
  /** Keys that sign the provider's cookies. */
  cookieKeys: string[]
}

/** A signing key for this process's tokens: a restart invalidates them, as a local provider may. */
function ephemeralJwks() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' }] }
}

export function createLocalProvider(options: LocalProviderOptions): Provider {
  return new Provider(options.issuer, {
    jwks: ephemeralJwks() as never,
    clients: options.clients.map((c) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      ...c,
    })),
    pkce: { required: () => true },
    // Short lifetimes: a local provider's sessions and tokens are for one sign-in.
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    features: { devInteractions: { enabled: false } },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    cookies: { keys: options.cookieKeys },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, id) {
      const user = options.users.find((u) => u.sub === id)
      if (!user) return undefined
      return {
        accountId: user.sub,
        async claims() {
          return {
            sub: user.sub,
            email: user.email,
            email_verified: user.emailVerified ?? true,
            name: user.name,
          }
        },
      }
    },
  })
}
