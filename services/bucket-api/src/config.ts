// bucket-api's configuration: the platform's settings, the services it calls,
// where blobs live, how often its housekeeping runs, and each sender's upload limits.
import { loadConfig } from '@docs-mesh/platform'
import Type from 'typebox'

export const ConfigSchema = Type.Object({
  IDENTITY_API_URL: Type.String({
    default: 'http://identity-api.docs.svc.cluster.local:8003',
    pattern: '^https?://',
  }),
  SIGNING_API_URL: Type.String({
    default: 'http://signing-api.docs.svc.cluster.local:8001',
    pattern: '^https?://',
  }),
  /** Blobs (ciphertexts) on the filesystem: <dir>/blobs/<bucket id>, uploads in flight in <dir>/incoming. */
  BLOB_DIR: Type.String({ default: '.data/blobs', minLength: 1 }),
  /** How often expired buckets are closed and their blobs removed; 0 turns it off. */
  EXPIRY_INTERVAL_SECONDS: Type.Integer({ default: 60, minimum: 0 }),
  /** How often blobs without a bucket, and abandoned uploads, are removed; 0 turns it off. */
  SWEEP_INTERVAL_SECONDS: Type.Integer({ default: 300, minimum: 0 }),
  /** A blob or upload file younger than this is left alone by the sweeper: its upload may still be running. */
  ORPHAN_GRACE_SECONDS: Type.Integer({ default: 600, minimum: 0 }),
  /**
   * Per-sender limits (docs/security-model.md, "Upload quotas"): ciphertext bytes on disk
   * (100 MiB: twenty of the largest uploads), transfers on disk, and uploads started an hour.
   */
  UPLOAD_QUOTA_ACTIVE_BYTES: Type.Integer({ default: 100 * 1024 * 1024, minimum: 1 }),
  UPLOAD_QUOTA_ACTIVE_COUNT: Type.Integer({ default: 50, minimum: 1 }),
  UPLOAD_RATE_PER_HOUR: Type.Integer({ default: 30, minimum: 1 }),
})

export function loadServiceConfig(env: Record<string, string | undefined>) {
  return loadConfig(env, { defaultPort: 8000, schema: ConfigSchema })
}

export type Config = ReturnType<typeof loadServiceConfig>
