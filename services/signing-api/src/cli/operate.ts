// Operator commands, run where the service's configuration is:
//   pnpm --filter @docs-mesh/signing-api run keys:rotate   retire the signing key, make a new one
//   pnpm --filter @docs-mesh/signing-api run checkpoint     countersign the audit chain's head now
import { connectDatabase, migrateGroup, parseKeyEncryptionKey } from '@docs-mesh/platform'
import { createWitness } from '../checkpoints/witness.ts'
import { loadServiceConfig } from '../config.ts'
import { createSigningKeys } from '../keys/signing-keys.ts'

const command = process.argv[2]
const config = loadServiceConfig(process.env)
const handle = connectDatabase(config.DATABASE_URL)
try {
  await migrateGroup(handle, 'audit')
  await migrateGroup(handle, 'signing')
  const keys = createSigningKeys(handle, {
    kek: parseKeyEncryptionKey(config.KEY_ENCRYPTION_KEY),
    maxAgeMs: config.KEY_MAX_AGE_DAYS * 24 * 3600_000,
  })
  if (command === 'rotate') {
    const key = await keys.rotate('operator request')
    process.stdout.write(`signing with ${key.keyId}\n`)
  } else if (command === 'checkpoint') {
    const checkpoint = await createWitness(handle, keys, { file: config.WITNESS_FILE }).checkpoint()
    process.stdout.write(
      checkpoint
        ? `checkpoint ${checkpoint.sequence} (${checkpoint.id}) at entry ${checkpoint.entry_id}\n`
        : 'the audit chain is empty: nothing to checkpoint\n',
    )
  } else {
    process.stderr.write('usage: operate rotate|checkpoint\n')
    process.exitCode = 2
  }
} finally {
  await handle.close()
}
