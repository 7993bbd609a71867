// identity-api as it runs: listening on a real port, signing people in
// through the local OpenID provider over real HTTP, with the real signing-api
// behind a mesh hop (which adds identity-sa's x-forwarded-client-cert, as the
// sidecars would). The browser's URLs are https://docs.test/...; `gateway`
// maps them to the app, as the ingress gateway does.
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import {
  type LocalUser,
  listenLocalProvider,
  type RunningProvider,
  scriptedBrowser,
  signInAtProvider,
} from '@docs-mesh/oidc-provider'
import type { ServiceApp } from '@docs-mesh/platform'
import {
  createTestDatabase,
  type MeshHop,
  startMeshHop,
  type TestDatabase,
  type TestDatabaseKind,
} from '@docs-mesh/platform/testing'
import { buildTestSigningApp } from '@docs-mesh/signing-api/testing'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'
import { totpCode } from '../src/mfa/totp.ts'

export const PUBLIC_URL = 'https://docs.test'
export const CALLBACK = `${PUBLIC_URL}/auth/oidc/local/callback`
const CLIENT_SECRET = randomBytes(32).toString('base64url')
const spiffe = (sa: string) =>
  `By=spiffe://cluster.local/ns/docs/sa/identity-sa;Hash=0;Subject="";URI=spiffe://cluster.local/ns/docs/sa/${sa}`
export const fromWorkload = (sa: string) => ({ 'x-forwarded-client-cert': spiffe(sa) })

export interface IdentityFixture {
  app: ServiceApp
  signing: ServiceApp
  hop: MeshHop
  provider: RunningProvider
  database: TestDatabase
  kek: string
  appUrl: string
  /** A browser URL (https://docs.test/...) as the app's own address. */
  gateway(url: string | URL): string
  /** Sign a seeded user in, from /login to the exchanged session token. */
  signIn(username: string): Promise<SignedIn>
  /** Sign in and pass MFA (enrolling the user the first time). */
  signInWithMfa(username: string): Promise<SignedIn>
  /** Up to the callback's redirect to /app?code=..., without exchanging the code. */
  signInToCode(username: string): Promise<{ code: string; location: URL; binding: string }>
  /** As the frontend exchanges a code: by default with the binding of the browser that got it. */
  exchange(code: string, caller?: string, binding?: string): Promise<LightMyRequestResponse>
  bearer(token: string): { authorization: string }
  close(): Promise<void>
}

export interface SignedIn {
  token: string
  sessionId: string
  user: { id: string; email: string; display_name: string; role: 'user' | 'admin' }
}

export async function startIdentityFixture(
  kind: TestDatabaseKind,
  env: Record<string, string> = {},
  /** The provider's people; its seeded users unless a test needs others. */
  providerUsers?: readonly LocalUser[],
): Promise<IdentityFixture> {
  const database = await createTestDatabase(kind, process.env)
  const signing = await buildTestSigningApp(database.url)
  const hop = await startMeshHop(signing, { caller: 'identity-sa', callee: 'signing-sa' })
  const provider = await listenLocalProvider({
    clients: [{ client_id: 'docs-mesh', client_secret: CLIENT_SECRET, redirect_uris: [CALLBACK] }],
    ...(providerUsers ? { users: providerUsers } : {}),
  })
  const kek = randomBytes(32).toString('base64url')
  const app = await buildApp(
    loadServiceConfig({
      DATABASE_URL: database.url,
      SIGNING_API_URL: hop.url,
      PUBLIC_URL,
      OIDC_ISSUER: provider.issuer,
      OIDC_CLIENT_ID: 'docs-mesh',
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      ADMIN_EMAILS: 'carol@docs-mesh.localhost',
      IDENTITY_ENCRYPTION_KEY: kek,
      // The tests play the sidecar: they add x-forwarded-client-cert and x-envoy-external-address.
      MESH_SIDECAR: 'true',
      ...env,
    }),
    { logger: false },
  )
  await app.listen({ port: 0, host: '127.0.0.1' })
  const appUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const gateway = (url: string | URL) => {
    const u = new URL(url)
    if (u.origin !== PUBLIC_URL) throw new Error(`not a URL of the system: ${u}`)
    return `${appUrl}${u.pathname}${u.search}`
  }

  async function signInToCode(username: string) {
    const go = scriptedBrowser()
    const login = await go(`${appUrl}/auth/oidc/local/login`)
    if (login.status !== 302) throw new Error(`login answered ${login.status}: ${await login.text()}`)
    const callback = await signInAtProvider(
      go,
      login.headers.get('location') ?? '',
      { username, password: `${username}-local-password` },
      CALLBACK,
    )
    const res = await go(gateway(callback))
    if (res.status !== 302) throw new Error(`callback answered ${res.status}: ${await res.text()}`)
    const location = new URL(res.headers.get('location') ?? '')
    const code = location.searchParams.get('code') ?? ''
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-docs_mesh_signin='))
    const binding = /^__Host-docs_mesh_signin=([^;]*)/.exec(cookie ?? '')?.[1] ?? ''
    bindings.set(code, binding)
    return { code, location, binding }
  }

  const bindings = new Map<string, string>()
  const exchange = (code: string, caller = 'frontend-sa', binding = bindings.get(code) ?? 'none') =>
    app.inject({
      method: 'POST',
      url: '/internal/session/exchange',
      headers: fromWorkload(caller),
      payload: { code, binding },
    })

  async function signIn(username: string): Promise<SignedIn> {
    const { code } = await signInToCode(username)
    const res = await exchange(code)
    if (res.statusCode !== 200) throw new Error(`exchange answered ${res.statusCode}: ${res.body}`)
    const body = res.json()
    return { token: body.token, sessionId: body.session_id, user: body.user }
  }

  const secrets = new Map<string, string>()
  async function signInWithMfa(username: string): Promise<SignedIn> {
    const session = await signIn(username)
    const auth = { authorization: `Bearer ${session.token}` }
    let secret = secrets.get(username)
    if (!secret) {
      const enrolled = await app.inject({ method: 'POST', url: '/auth/mfa/enroll', headers: auth })
      if (enrolled.statusCode !== 200)
        throw new Error(`enrol answered ${enrolled.statusCode}: ${enrolled.body}`)
      secret = enrolled.json().secret as string
      secrets.set(username, secret)
    } else {
      // A code is good once per 30-second step; these sessions come faster than that.
      await app.database.db
        .updateTable('mfa_credentials')
        .set({ last_used_step: null })
        .where('user_id', '=', session.user.id)
        .execute()
    }
    const verified = await app.inject({
      method: 'POST',
      url: '/auth/mfa/verify',
      headers: auth,
      payload: { code: totpCode(secret, Date.now()) },
    })
    if (verified.statusCode !== 200)
      throw new Error(`verify answered ${verified.statusCode}: ${verified.body}`)
    return session
  }

  return {
    app,
    signing,
    hop,
    provider,
    database,
    kek,
    appUrl,
    gateway,
    signInToCode,
    exchange,
    bearer: (token) => ({ authorization: `Bearer ${token}` }),
    signIn,
    signInWithMfa,
    async close() {
      await app.close()
      await provider.close()
      await hop.close()
      await signing.close()
      await database.drop()
    },
  }
}
