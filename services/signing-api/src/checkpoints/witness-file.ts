// The witness's own memory of the last checkpoint it signed, kept in a file
// on signing-api's own volume (no other service mounts it), outside the
// shared database a database writer can rewrite. Written whole or not at
// all: a temporary file, fsynced, renamed over the old one.
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { dirname, join } from 'node:path'

export interface WitnessedCheckpoint {
  checkpoint_id: string
  sequence: number
  entry_id: number
  entry_hash: string
  signed_at: string
}

export class WitnessFileError extends Error {
  readonly code = 'ERR_WITNESS_FILE'
}

/** The last witnessed checkpoint, or null when the file does not exist yet (a first start). */
export async function readWitnessFile(path: string): Promise<WitnessedCheckpoint | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return null
    throw error
  }
  const value = JSON.parse(text) as Partial<WitnessedCheckpoint>
  if (
    typeof value.checkpoint_id !== 'string' ||
    !Number.isSafeInteger(value.sequence) ||
    !Number.isSafeInteger(value.entry_id) ||
    typeof value.entry_hash !== 'string' ||
    typeof value.signed_at !== 'string'
  )
    // Refusing to go on is the safe answer: a garbled file must not read as a first start.
    throw new WitnessFileError(`the witness file ${path} is not a checkpoint record`)
  return value as WitnessedCheckpoint
}

export async function writeWitnessFile(path: string, checkpoint: WitnessedCheckpoint): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const temporary = join(dirname(path), `.${process.pid}.${Date.now()}.witness.tmp`)
  const handle = await open(temporary, 'w', 0o600)
  try {
    await handle.writeFile(`${JSON.stringify(checkpoint)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temporary, path)
  const directory = await open(dirname(path), 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}
