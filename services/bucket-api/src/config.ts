// bucket-api's configuration: the platform's settings, the services it calls,
// where blobs live and how often its housekeeping runs.
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
})

export function loadServiceConfig(env: Record<string, string | undefined>) {
  return loadConfig(env, { defaultPort: 8000, schema: ConfigSchema })
}

export type Config = ReturnType<typeof loadServiceConfig>
