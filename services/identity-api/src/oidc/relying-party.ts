// identity-api as an OpenID Connect relying party (openid-client): the
// authorisation-code flow with PKCE, state and nonce. The provider is found
// by discovery from its issuer, so the local provider and Google take the
// same path. Discovery happens at the first sign-in and is retried on the
// next one if the provider was down.
import { HttpProblem } from '@docs-mesh/platform'
import * as client from 'openid-client'

export interface RelyingPartyOptions {
  issuer: string
  clientId: string
  clientSecret: string
  redirectUri: string
}

export interface SignInStart {
  url: URL
  state: string
  nonce: string
  codeVerifier: string
}

export interface ProviderIdentity {
  subject: string
  email: string
  emailVerified: boolean
  name: string | null
}

/** Which ID token claim failed a check (nonce, aud, iss...), when openid-client says. */
const claimOf = (error: unknown): string => {
  for (let e = error as { cause?: unknown; claim?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.claim === 'string') return `: ${e.claim}`
  }
  return ''
}

export function createRelyingParty(options: RelyingPartyOptions) {
  let discovered: Promise<client.Configuration> | null = null

  function configuration(): Promise<client.Configuration> {
    discovered ??= client
      .discovery(new URL(options.issuer), options.clientId, options.clientSecret, undefined, {
        // Only the local provider is served over plain HTTP, on this machine or inside the cluster.
        execute: new URL(options.issuer).protocol === 'http:' ? [client.allowInsecureRequests] : [],
        timeout: 10,
      })
      .catch((error: unknown) => {
        discovered = null
        throw new HttpProblem(503, 'ERR_OIDC_UNAVAILABLE', 'the identity provider cannot be reached', {
          cause: error,
        })
      })
    return discovered
  }

  return {
    async start(): Promise<SignInStart> {
      const config = await configuration()
      const codeVerifier = client.randomPKCECodeVerifier()
      const state = client.randomState()
      const nonce = client.randomNonce()
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: options.redirectUri,
        scope: 'openid email profile',
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      })
      return { url, state, nonce, codeVerifier }
    },

    /** Redeems the callback's code; any mismatch of state, nonce or verifier is a 400. */
    async finish(
      callbackUrl: URL,
      expected: { state: string; nonce: string; codeVerifier: string },
    ): Promise<ProviderIdentity> {
      const config = await configuration()
      let claims: client.IDToken | undefined
      let profile: client.UserInfoResponse | undefined
      try {
        const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: expected.codeVerifier,
          expectedState: expected.state,
          expectedNonce: expected.nonce,
          idTokenExpected: true,
        })
        claims = tokens.claims()
        // Providers put e-mail in the ID token (Google) or only in userinfo (oidc-provider's default).
        if (claims && typeof claims.email !== 'string')
          profile = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
      } catch (error) {
        if (error instanceof HttpProblem) throw error
        const reason =
          error instanceof client.ResponseBodyError
            ? `the provider refused the code (${error.error})`
            : error instanceof client.AuthorizationResponseError
              ? `the provider returned an error (${error.error})`
              : `the sign-in response did not check out (${(error as Error).message}${claimOf(error)})`
        throw new HttpProblem(400, 'ERR_OIDC_CALLBACK', reason, { cause: error })
      }
      const source = { ...profile, ...claims }
      if (!claims || typeof source.email !== 'string')
        throw new HttpProblem(400, 'ERR_OIDC_CALLBACK', 'the provider did not share an e-mail address')
      return {
        subject: claims.sub,
        email: source.email.toLowerCase(),
        emailVerified: source.email_verified === true,
        name: typeof source.name === 'string' ? source.name : null,
      }
    },
  }
}

export type RelyingParty = ReturnType<typeof createRelyingParty>
