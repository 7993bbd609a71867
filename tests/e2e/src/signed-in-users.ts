// Users signed in on a running throwaway system, as the benchmark, the soak
// and the fuzz need them: a session made as identity-api makes one (in the
// system's database, signed with a session key of its own), and the user's
// browser keys registered through the gateway.
import { join } from 'node:path'
import { makeKeyPairs, publicJwk } from '@docs-mesh/frontend/crypto'
import type { RunningSystem } from '@docs-mesh/mesh/system'
import { connectDatabase } from '@docs-mesh/platform'
import { createTestSession, createTestSessionKey } from '@docs-mesh/platform/testing'
import type { Dispatcher } from 'undici'

export interface SignedInUser {
  email: string
  userId: string
  token: string
  keys: Awaited<ReturnType<typeof makeKeyPairs>>
  signing: { key_id: string; public_key: string }
  encryption: { key_id: string; public_key: string }
}

export async function signInUsers(
  system: Pick<RunningSystem, 'gatewayUrl'> & { dir: string },
  gateway: Dispatcher,
  names: string[],
  options: { ttlSeconds?: number; role?: 'user' | 'admin' } = {},
): Promise<SignedInUser[]> {
  const handle = connectDatabase(join(system.dir, 'data', 'docs-mesh.sqlite'))
  try {
    const sessionKey = await createTestSessionKey(handle)
    return await Promise.all(
      names.map(async (name) => {
        const email = `${name}@soak.test`
        const session = await createTestSession(handle, sessionKey, {
          issuer: `${system.gatewayUrl}/auth`,
          audience: 'docs-mesh',
          mfaVerified: true,
          email,
          role: options.role,
          ttlSeconds: options.ttlSeconds,
        })
        const keys = await makeKeyPairs()
        const res = await gateway.request({
          origin: system.gatewayUrl,
          path: '/auth/keys',
          method: 'POST',
          headers: { authorization: `Bearer ${session.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            signing_key: await publicJwk(keys.signing.publicKey),
            encryption_key: await publicJwk(keys.encryption.publicKey),
          }),
        })
        const body = (await res.body.json()) as { keys: Array<{ key_id: string; public_key: string }> }
        if (res.statusCode !== 201)
          throw new Error(`registering keys: ${res.statusCode} ${JSON.stringify(body)}`)
        return {
          email,
          userId: session.userId,
          token: session.token,
          keys,
          signing: body.keys[0] as SignedInUser['signing'],
          encryption: body.keys[1] as SignedInUser['encryption'],
        }
      }),
    )
  } finally {
    await handle.close()
  }
}
