// admin-api's configuration: the platform's settings, and what counts as a
// recent enough audit checkpoint for GET /admin/audit/verify.
import { loadConfig } from '@docs-mesh/platform'
import Type from 'typebox'

export const ConfigSchema = Type.Object({
  /**
   * The latest checkpoint must be at most this old. signing-api signs one every
   * CHECKPOINT_INTERVAL_SECONDS (300 by default), so the default allows two missed rounds.
   */
  AUDIT_CHECKPOINT_MAX_AGE_SECONDS: Type.Integer({ default: 900, minimum: 1 }),
  /** And the chain's head at most this many entries past it. */
  AUDIT_CHECKPOINT_MAX_ENTRIES_BEHIND: Type.Integer({ default: 10_000, minimum: 0 }),
})

export function loadServiceConfig(env: Record<string, string | undefined>) {
  return loadConfig(env, { defaultPort: 8005, schema: ConfigSchema })
}

export type Config = ReturnType<typeof loadServiceConfig>
