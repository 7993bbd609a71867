// POST /session against the real identity-api (not a stand-in): a browser
// signs in through the local OpenID provider, and the frontend exchanges the
// code over a mesh hop that adds frontend-sa's x-forwarded-client-cert, as
// its sidecar would. identity-api's own checks are in play: the code is bound
// to the browser that got it, and only frontend-sa may exchange it.
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { buildApp as buildIdentityApp } from '@docs-mesh/identity-api/app'
import { loadServiceConfig as loadIdentityConfig } from '@docs-mesh/identity-api/config'
import {
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
  testDatabaseKinds,
} from '@docs-mesh/platform/testing'
import { buildTestSigningApp } from '@docs-mesh/signing-api/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../server/app.ts'
import { loadServiceConfig } from '../server/config.ts'

const STATIC_DIR = fileURLToPath(new URL('./fixtures/client', import.meta.url))
const PUBLIC_URL = 'https://docs.test'
const CALLBACK = `${PUBLIC_URL}/auth/oidc/local/callback`
const SECRET = randomBytes(32).toString('base64url')

describe.each(testDatabaseKinds(process.env))(
  'the session exchange with the real identity-api on %s',
  (kind) => {
    let database: TestDatabase
    let signing: ServiceApp
    let toSigning: MeshHop
    let provider: RunningProvider
    let identity: ServiceApp
    let identityUrl: string
    const hops: MeshHop[] = []
    let frontend: Awaited<ReturnType<typeof buildApp>>
    let wrongCaller: Awaited<ReturnType<typeof buildApp>>

    beforeAll(async () => {
      database = await createTestDatabase(kind, process.env)
      signing = await buildTestSigningApp(database.url)
      toSigning = await startMeshHop(signing, { caller: 'identity-sa', callee: 'signing-sa' })
      provider = await listenLocalProvider({
        clients: [{ client_id: 'docs-mesh', client_secret: SECRET, redirect_uris: [CALLBACK] }],
      })
      identity = await buildIdentityApp(
        loadIdentityConfig({
          DATABASE_URL: database.url,
          SIGNING_API_URL: toSigning.url,
          PUBLIC_URL,
          OIDC_ISSUER: provider.issuer,
          OIDC_CLIENT_ID: 'docs-mesh',
          OIDC_CLIENT_SECRET: SECRET,
          IDENTITY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
          AUTH_RATE_LIMIT_PER_MINUTE: '40',
          // The mesh hops below play the sidecar that sets x-forwarded-client-cert.
          MESH_SIDECAR: 'true',
        }),
        { logger: false },
      )
      await identity.listen({ port: 0, host: '127.0.0.1' })
      identityUrl = `http://127.0.0.1:${(identity.server.address() as AddressInfo).port}`
      const frontendFor = async (caller: string) => {
        const hop = await startMeshHop(identity, { caller, callee: 'identity-sa' })
        hops.push(hop)
        return buildApp(loadServiceConfig({ STATIC_DIR, IDENTITY_API_URL: hop.url }), { logger: false })
      }
      frontend = await frontendFor('frontend-sa')
      // A workload the policy and identity-api's caller check must both refuse.
      wrongCaller = await frontendFor('bucket-sa')
    })
    afterAll(async () => {
      await frontend?.close()
      await wrongCaller?.close()
      for (const hop of hops) await hop.close()
      await identity?.close()
      await provider?.close()
      await toSigning?.close()
      await signing?.close()
      await database?.drop()
    })

    /** A browser signs alice in, up to identity-api's redirect to /app?code=... and its binding cookie. */
    async function signInToCode() {
      const go = scriptedBrowser()
      const login = await go(`${identityUrl}/auth/oidc/local/login`)
      const back = await signInAtProvider(
        go,
        login.headers.get('location') ?? '',
        { username: 'alice', password: 'alice-local-password' },
        CALLBACK,
      )
      const res = await go(`${identityUrl}${back.pathname}${back.search}`)
      expect(res.status).toBe(302)
      const code = new URL(res.headers.get('location') ?? '').searchParams.get('code') ?? ''
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-docs_mesh_signin=')) ?? ''
      return { code, binding: /^__Host-docs_mesh_signin=([^;]*)/.exec(cookie)?.[1] ?? '' }
    }
    const exchange = (app: typeof frontend, code: string, binding: string) =>
      app.inject({
        method: 'POST',
        url: '/session',
        payload: { code },
        cookies: { '__Host-docs_mesh_signin': binding },
      })
    const sessionCookie = (res: Awaited<ReturnType<typeof exchange>>) =>
      ([] as string[])
        .concat(res.headers['set-cookie'] ?? [])
        .find((c) => c.startsWith('__Host-docs_mesh_session='))
        ?.match(/^__Host-docs_mesh_session=([^;]*)/)?.[1]

    it('turns the browser’s code into a session identity-api itself accepts', async () => {
      const { code, binding } = await signInToCode()
      const res = await exchange(frontend, code, binding)
      expect(res.statusCode).toBe(200)
      expect(res.json()).toMatchObject({ user: { email: 'alice@docs-mesh.localhost' } })
      const token = sessionCookie(res)
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
      expect(res.body).not.toContain(token)
      const me = await identity.inject({ url: '/auth/me', headers: { authorization: `Bearer ${token}` } })
      expect(me.json()).toMatchObject({ user: { email: 'alice@docs-mesh.localhost' } })
    })

    it('sets no session when the code comes with another browser’s binding, and burns nothing', async () => {
      const { code, binding } = await signInToCode()
      const other = await signInToCode()
      const res = await exchange(frontend, code, other.binding)
      expect(res.json()).toMatchObject({ status: 400, code: 'ERR_CODE_INVALID' })
      expect(sessionCookie(res)).toBeUndefined()
      // The rightful browser can still use its code.
      expect((await exchange(frontend, code, binding)).statusCode).toBe(200)
    })

    it('refuses the exchange from a workload other than the frontend, and sets no session', async () => {
      const { code, binding } = await signInToCode()
      const res = await exchange(wrongCaller, code, binding)
      expect(res.json()).toMatchObject({ status: 503, code: 'ERR_UPSTREAM_UNAVAILABLE' })
      expect(res.json().detail).toMatch(/answered 403/)
      expect(sessionCookie(res)).toBeUndefined()
      // identity-api did not spend the code on the wrong caller.
      expect((await exchange(frontend, code, binding)).statusCode).toBe(200)
    })
  },
)
