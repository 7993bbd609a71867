// The Ed25519 keys that sign session tokens. The public halves are in
// session_keys for every service to verify with; the private half is sealed
// under IDENTITY_ENCRYPTION_KEY. A key past its maximum age is replaced at
// start and kept, retired, until no token it signed can still be alive.
// A row that cannot be opened (sealed under another IDENTITY_ENCRYPTION_KEY,
// corrupt) or read (a public key without kid) is skipped with a logged error,
// never a crash at boot or a 500 from the JWKS.
import { randomUUID } from 'node:crypto'
import { type DatabaseHandle, open, seal } from '@docs-mesh/platform'
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'

export interface ActiveSessionKey {
  kid: string
  privateKey: CryptoKey
}

export interface SessionKeysOptions {
  kek: Buffer
  maxAgeMs: number
  /** Tokens live at most this long, so a retired key is published this long after retirement. */
  tokenLifetimeMs: number
  now?: () => Date
  /** Where a skipped row is reported (the app's logger). */
  log?: { error(details: object, message: string): void }
}

/** How many unretired rows start-up tries, newest first, before making a new key. */
const CANDIDATES = 10

export function createSessionKeys(handle: DatabaseHandle, options: SessionKeysOptions) {
  const now = options.now ?? (() => new Date())
  let cached: (ActiveSessionKey & { createdAt: number }) | null = null

  async function create(): Promise<ActiveSessionKey & { createdAt: number }> {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
    const kid = `session-${randomUUID()}`
    const createdAt = now()
    const privateJwk = JSON.stringify(await exportJWK(privateKey))
    await handle.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('session_keys')
        .set({ retired_at: createdAt.toISOString() })
        .where('retired_at', 'is', null)
        .execute()
      await trx
        .insertInto('session_keys')
        .values({
          kid,
          public_jwk: JSON.stringify({ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' }),
          private_jwk_encrypted: seal(options.kek, Buffer.from(privateJwk), kid),
          created_at: createdAt.toISOString(),
          retired_at: null,
        })
        .execute()
    })
    return { kid, privateKey, createdAt: createdAt.getTime() }
  }

  return {
    /** The key new tokens are signed with: the newest unretired one, made or replaced when needed. */
    async active(): Promise<ActiveSessionKey> {
      if (cached && now().getTime() - cached.createdAt < options.maxAgeMs) return cached
      const rows = await handle.db
        .selectFrom('session_keys')
        .selectAll()
        .where('retired_at', 'is', null)
        .where('created_at', '>', new Date(now().getTime() - options.maxAgeMs).toISOString())
        .orderBy('created_at', 'desc')
        .limit(CANDIDATES)
        .execute()
      cached = null
      for (const row of rows) {
        try {
          const jwk = JSON.parse(open(options.kek, row.private_jwk_encrypted, row.kid).toString()) as JWK
          const privateKey = (await importJWK(jwk, 'EdDSA')) as CryptoKey
          cached = { kid: row.kid, privateKey, createdAt: Date.parse(row.created_at) }
          break
        } catch (error) {
          options.log?.error(
            { err: error, kid: row.kid },
            'session key row cannot be opened (another IDENTITY_ENCRYPTION_KEY, or corrupt); skipping it',
          )
        }
      }
      cached ??= await create()
      return cached
    },

    /** Public keys that may have signed a token still alive: the JWKS. */
    async published(): Promise<JWK[]> {
      const since = new Date(now().getTime() - options.tokenLifetimeMs).toISOString()
      const rows = await handle.db
        .selectFrom('session_keys')
        .select(['public_jwk'])
        .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', since)]))
        .orderBy('created_at', 'desc')
        .execute()
      return rows.flatMap((r) => {
        try {
          const jwk = JSON.parse(r.public_jwk) as JWK
          if (typeof jwk.kid === 'string' && jwk.kid.length > 0) return [jwk]
        } catch {
          // reported below
        }
        options.log?.error(
          { public_jwk: r.public_jwk.slice(0, 200) },
          'session key row has no usable public key; not published',
        )
        return []
      })
    },
  }
}

export type SessionKeys = ReturnType<typeof createSessionKeys>
