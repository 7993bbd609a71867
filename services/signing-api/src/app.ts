// Builds signing-api without listening, for the server and for tests.
import { createServiceApp, parseKeyEncryptionKey, principalOf, type ServiceApp } from '@docs-mesh/platform'
import { createWitness } from './checkpoints/witness.ts'
import type { Config } from './config.ts'
import { createSigningKeys } from './keys/signing-keys.ts'
import { signRoutes } from './routes/sign.ts'
import { service } from './service.ts'

const DAY_MS = 24 * 3600_000

export async function buildApp(config: Config, options: { logger?: boolean } = {}): Promise<ServiceApp> {
  const app = await createServiceApp({ service, config, ...options })
  const keys = createSigningKeys(app.database, {
    kek: parseKeyEncryptionKey(config.KEY_ENCRYPTION_KEY),
    maxAgeMs: config.KEY_MAX_AGE_DAYS * DAY_MS,
  })
  // Made (or rotated) at start, so a wrong key-encryption key stops the process now, not at the first request.
  await keys.active()
  const principal = (sa: string) => principalOf(config.TRUST_DOMAIN, config.POD_NAMESPACE, sa)
  signRoutes(app, {
    keys,
    purposes: { [principal('bucket-sa')]: 'upload_receipt', [principal('identity-sa')]: 'key_attestation' },
  })

  const witness = createWitness(app.database, keys, {
    file: config.WITNESS_FILE,
    onFirstStart: () =>
      app.log.warn(
        { file: config.WITNESS_FILE },
        'no witness file yet: the audit chain in the database is trusted as it is now',
      ),
  })
  if (config.CHECKPOINT_INTERVAL_SECONDS > 0) {
    const failed = (err: unknown) => app.log.error({ err }, 'checkpoint failed')
    // A round at start, so a restart leaves a fresh checkpoint at once.
    app.addHook('onReady', async () => {
      witness.checkpoint().catch(failed)
    })
    const stop = witness.schedule(config.CHECKPOINT_INTERVAL_SECONDS * 1000, failed)
    app.addHook('onClose', async () => stop())
  }
  app.decorate('witness', witness)
  app.decorate('signingKeys', keys)
  return app
}

declare module 'fastify' {
  interface FastifyInstance {
    witness: ReturnType<typeof createWitness>
    signingKeys: import('./keys/signing-keys.ts').SigningKeys
  }
}
