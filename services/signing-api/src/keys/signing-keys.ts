// The platform's Ed25519 keys. One key signs at a time (the newest not
// retired or revoked); a key older than the maximum age is rotated out but
// kept, so what it signed still verifies. Revocation is recorded with its time.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
} from 'node:crypto'
import { appendAuditEntry, type DatabaseHandle, HttpProblem, open, seal } from '@docs-mesh/platform'
import type { Compilable } from 'kysely'

export interface ActiveKey {
  keyId: string
  privateKey: KeyObject
  createdAt: Date
}

/** The code an append fails with when the key its record names was rotated or revoked before it could be recorded. */
export const KEY_NOT_CURRENT = 'ERR_KEY_NOT_CURRENT'

/** A query that compiles once, however often it is asked to. */
function compiledOnce(query: Compilable): Compilable {
  const compiled = query.compile()
  return { compile: () => compiled }
}

export interface SigningKeysOptions {
  kek: Buffer
  maxAgeMs: number
  now?: () => Date
}

export function createSigningKeys(handle: DatabaseHandle, options: SigningKeysOptions) {
  const now = options.now ?? (() => new Date())
  let cached: ActiveKey | null = null

  async function createKey(reason: string): Promise<ActiveKey> {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const keyId = `platform-${randomUUID()}`
    const createdAt = now()
    await handle.db
      .insertInto('signing_keys')
      .values({
        key_id: keyId,
        public_key: publicKey.export({ format: 'jwk' }).x as string,
        private_key_encrypted: seal(options.kek, privateKey.export({ format: 'der', type: 'pkcs8' }), keyId),
        created_at: createdAt.toISOString(),
        retired_at: null,
        revoked_at: null,
        revocation_reason: null,
      })
      .execute()
    await appendAuditEntry(handle, { type: 'signing_key.create', data: { key_id: keyId, reason } })
    return { keyId, privateKey, createdAt }
  }

  async function load(): Promise<ActiveKey | null> {
    const row = await handle.db
      .selectFrom('signing_keys')
      .selectAll()
      .where('retired_at', 'is', null)
      .where('revoked_at', 'is', null)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst()
    if (!row) return null
    const privateKey = createPrivateKey({
      key: open(options.kek, row.private_key_encrypted, row.key_id),
      format: 'der',
      type: 'pkcs8',
    })
    return { keyId: row.key_id, privateKey, createdAt: new Date(row.created_at) }
  }

  /** Retires the signing key and makes a new one. */
  async function rotate(reason: string): Promise<ActiveKey> {
    const current = await load()
    const next = await createKey(reason)
    if (current) {
      await handle.db
        .updateTable('signing_keys')
        .set({ retired_at: now().toISOString() })
        .where('key_id', '=', current.keyId)
        .execute()
      await appendAuditEntry(handle, {
        type: 'signing_key.retire',
        data: { key_id: current.keyId, replaced_by: next.keyId, reason },
      })
    }
    cached = next
    return next
  }

  /** The key to sign with: made at first start, rotated past the maximum age, never a revoked one. */
  async function active(): Promise<ActiveKey> {
    if (cached) {
      // Another replica or an operator may have rotated or revoked it since.
      const row = await handle.db
        .selectFrom('signing_keys')
        .select(['created_at', 'retired_at', 'revoked_at'])
        .where('key_id', '=', cached.keyId)
        .executeTakeFirst()
      const young = row && now().getTime() - new Date(row.created_at).getTime() < options.maxAgeMs
      if (young && row.retired_at === null && row.revoked_at === null) return cached
    }
    const loaded = await load()
    if (!loaded) {
      cached = await createKey('first start')
      return cached
    }
    if (now().getTime() - loaded.createdAt.getTime() >= options.maxAgeMs) return rotate('maximum age reached')
    cached = loaded
    return loaded
  }

  async function signBytes(data: Buffer): Promise<{ keyId: string; signature: string }> {
    const key = await active()
    return { keyId: key.keyId, signature: sign(null, data, key.privateKey).toString('base64url') }
  }

  /**
   * Signs with the key in memory, without asking the database first: for a
   * signature recorded with `stillCurrent(keyId)` as its precondition, so a
   * key rotated or revoked meanwhile is caught before anything commits.
   */
  async function signBytesUnchecked(data: Buffer): Promise<{ keyId: string; signature: string }> {
    const young = cached && now().getTime() - cached.createdAt.getTime() < options.maxAgeMs
    let key = young ? cached : null
    if (!key) {
      // One reload for all the requests that find the key gone, or each might make a key.
      loading ??= active().finally(() => {
        loading = null
      })
      key = await loading
    }
    return { keyId: key.keyId, signature: sign(null, data, key.privateKey).toString('base64url') }
  }

  let loading: Promise<ActiveKey> | null = null

  /**
   * The precondition of a record signed by keyId (see appendAuditEntry's
   * `requires`): in the record's transaction the key is neither retired nor
   * revoked nor past its maximum age. Built once per key and second, so a
   * batch of signatures by one key shares one look; the age limit it checks
   * is the one a second from now, so a key is refused up to a second early,
   * never late.
   */
  function stillCurrent(keyId: string) {
    const t = now().getTime()
    if (precondition?.keyId !== keyId || t >= precondition.until) {
      const until = t + 1000
      precondition = {
        keyId,
        until,
        query: compiledOnce(
          handle.db
            .selectFrom('signing_keys')
            .select('key_id')
            .where('key_id', '=', keyId)
            .where('retired_at', 'is', null)
            .where('revoked_at', 'is', null)
            .where('created_at', '>', new Date(until - options.maxAgeMs).toISOString()),
        ),
        code: KEY_NOT_CURRENT,
        message: `the signing key ${keyId} was rotated or revoked`,
      }
    }
    return precondition
  }

  let precondition: {
    keyId: string
    until: number
    query: Compilable
    code: string
    message: string
  } | null = null

  /** The key is not to be used again: the next signature loads the current one. */
  function forget(keyId: string): void {
    if (cached?.keyId === keyId) cached = null
  }

  async function publicKeyOf(keyId: string): Promise<KeyObject> {
    const row = await handle.db
      .selectFrom('signing_keys')
      .select('public_key')
      .where('key_id', '=', keyId)
      .executeTakeFirst()
    if (!row) throw new HttpProblem(404, 'ERR_KEY_UNKNOWN', `no key ${keyId}`)
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: row.public_key }, format: 'jwk' })
  }

  return { active, rotate, signBytes, signBytesUnchecked, stillCurrent, forget, publicKeyOf }
}

export type SigningKeys = ReturnType<typeof createSigningKeys>
