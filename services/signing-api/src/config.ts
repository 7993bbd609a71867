// signing-api's configuration: the platform's settings, the key-encryption
// key for the private keys at rest, rotation and checkpoint schedules.
import { loadConfig } from '@docs-mesh/platform'
import Type from 'typebox'

export const ConfigSchema = Type.Object({
  /** 32 bytes, base64 or base64url. From a Secret in the cluster; the local mesh makes one per machine. */
  KEY_ENCRYPTION_KEY: Type.String({ pattern: '^[A-Za-z0-9+/_-]{43}=?$' }),
  /** A signing key older than this is rotated out (it still verifies). */
  KEY_MAX_AGE_DAYS: Type.Integer({ default: 90, minimum: 1 }),
  /** How often the witness countersigns the audit chain's head; 0 turns the schedule off. */
  CHECKPOINT_INTERVAL_SECONDS: Type.Integer({ default: 300, minimum: 0 }),
  /**
   * The witness's own record of the last checkpoint it signed, outside the shared database:
   * in the cluster on a volume only signing-api mounts. Losing it makes the next start trust
   * the database's chain as it then is.
   */
  WITNESS_FILE: Type.String({ default: '.data/signing-api/witness.json', minLength: 1 }),
})

export function loadServiceConfig(env: Record<string, string | undefined>) {
  return loadConfig(env, { defaultPort: 8001, schema: ConfigSchema })
}

export type Config = ReturnType<typeof loadServiceConfig>
