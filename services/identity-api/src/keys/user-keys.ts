// A user's public keys: registered as a pair (Ed25519 for signatures, X25519
// for key agreement), each attested by signing-api over the mesh before it is
// stored. Registering a new pair supersedes the old one (still trusted for
// what it signed); revoking ends trust from that moment.
import { randomUUID } from 'node:crypto'
import {
  appendAuditEntry,
  type DatabaseHandle,
  HttpProblem,
  keyAttestationDigest,
  type UpstreamCall,
  type UpstreamClient,
  type UserKeyTable,
} from '@docs-mesh/platform'
import type { ValidPublicKey } from './public-keys.ts'

export interface UserKeysOptions {
  upstream: UpstreamClient
  signingApiUrl: string
  now?: () => Date
}

interface SignResponse {
  signature_id: string
  signature: string
  key_id: string
  signed_at: string
}

export function createUserKeys(handle: DatabaseHandle, options: UserKeysOptions) {
  const now = options.now ?? (() => new Date())

  async function attest(
    key: Pick<UserKeyTable, 'id' | 'user_id' | 'kind' | 'algorithm' | 'public_key' | 'created_at'>,
    context: UpstreamCall['context'],
  ) {
    const sha256 = keyAttestationDigest(key)
    const res = await options.upstream.call<SignResponse>({
      method: 'POST',
      url: `${options.signingApiUrl}/sign`,
      body: { sha256, purpose: 'key_attestation', subject_id: key.id, user_id: key.user_id },
      context,
    })
    if (res.status !== 200)
      throw new HttpProblem(
        503,
        'ERR_ATTESTATION_UNAVAILABLE',
        `signing-api did not attest the key (${res.status})`,
      )
    return { sha256, ...res.body }
  }

  return {
    async register(
      userId: string,
      keys: ValidPublicKey[],
      context: UpstreamCall['context'],
    ): Promise<UserKeyTable[]> {
      const createdAt = now().toISOString()
      const rows: UserKeyTable[] = []
      // Attested first: if signing-api is down, nothing is stored and the old keys stay current.
      for (const key of keys) {
        const base = {
          id: randomUUID(),
          user_id: userId,
          kind: key.kind,
          algorithm: key.algorithm,
          public_key: key.publicKey,
          created_at: createdAt,
        }
        const attestation = await attest(base, context)
        rows.push({
          ...base,
          fingerprint: key.fingerprint,
          attestation_sha256: attestation.sha256,
          attestation_signature_id: attestation.signature_id,
          attestation_signature: attestation.signature,
          attestation_key_id: attestation.key_id,
          superseded_at: null,
          revoked_at: null,
        })
      }
      await handle.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('user_keys')
          .set({ superseded_at: createdAt })
          .where('user_id', '=', userId)
          .where(
            'kind',
            'in',
            keys.map((k) => k.kind),
          )
          .where('superseded_at', 'is', null)
          .where('revoked_at', 'is', null)
          .execute()
        await trx.insertInto('user_keys').values(rows).execute()
      })
      await appendAuditEntry(handle, {
        type: 'key.register',
        data: {
          user_id: userId,
          keys: rows.map((r) => ({ key_id: r.id, kind: r.kind, fingerprint: r.fingerprint })),
        },
      })
      return rows
    },

    async list(userId: string): Promise<UserKeyTable[]> {
      return handle.db
        .selectFrom('user_keys')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('created_at', 'desc')
        .execute()
    },

    async revoke(userId: string, keyId: string, by: { actor: string }): Promise<UserKeyTable> {
      const key = await handle.db
        .selectFrom('user_keys')
        .selectAll()
        .where('id', '=', keyId)
        .where('user_id', '=', userId)
        .executeTakeFirst()
      if (!key) throw new HttpProblem(404, 'ERR_KEY_NOT_FOUND', 'no such key of yours')
      if (key.revoked_at)
        throw new HttpProblem(409, 'ERR_KEY_REVOKED', `the key was revoked at ${key.revoked_at}`)
      const revokedAt = now().toISOString()
      await handle.db
        .updateTable('user_keys')
        .set({ revoked_at: revokedAt })
        .where('id', '=', keyId)
        .where('revoked_at', 'is', null)
        .execute()
      await appendAuditEntry(handle, {
        type: 'key.revoke',
        data: { user_id: userId, key_id: keyId, kind: key.kind, actor: by.actor },
      })
      return { ...key, revoked_at: revokedAt }
    },
  }
}

export type UserKeys = ReturnType<typeof createUserKeys>

export const keyStatus = (key: UserKeyTable): 'current' | 'superseded' | 'revoked' =>
  key.revoked_at ? 'revoked' : key.superseded_at ? 'superseded' : 'current'
