// Where ciphertexts live: an interface small enough for another backend
// (object storage) to implement, and the filesystem one used by default.
// A blob becomes visible only whole: it is streamed to a file in incoming/,
// fsynced, renamed into blobs/ and the directory fsynced. A crash leaves at
// most a file in incoming/ or a blob nobody refers to; the sweeper removes both.
import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

export interface StagedBlob {
  size: number
  sha256: string
  /** Makes the blob durable under its id; only then may a bucket refer to it. */
  commit(id: string): Promise<void>
  discard(): Promise<void>
}

export interface BlobStore {
  stage(content: Readable): Promise<StagedBlob>
  read(id: string): Readable
  has(id: string): Promise<boolean>
  delete(id: string): Promise<void>
  /** Committed blobs with their age, for the sweeper. */
  list(): Promise<Array<{ id: string; modifiedAt: Date }>>
  /** Uploads never committed and older than the cutoff are removed; returns how many. */
  removeAbandoned(olderThan: Date): Promise<number>
}

const BLOB_ID = /^[0-9a-f-]{36}$/

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export async function createFileBlobStore(root: string): Promise<BlobStore> {
  const incoming = join(root, 'incoming')
  const blobs = join(root, 'blobs')
  await mkdir(incoming, { recursive: true, mode: 0o700 })
  await mkdir(blobs, { recursive: true, mode: 0o700 })
  const pathOf = (id: string) => {
    if (!BLOB_ID.test(id)) throw new Error(`not a blob id: ${id}`)
    return join(blobs, id)
  }

  return {
    async stage(content) {
      const temp = join(incoming, `${randomUUID()}.part`)
      const hash = createHash('sha256')
      let size = 0
      content.on('data', (chunk: Buffer) => {
        hash.update(chunk)
        size += chunk.length
      })
      try {
        const out = createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true })
        await pipeline(content, out)
        await fsyncPath(temp)
      } catch (error) {
        await rm(temp, { force: true })
        throw error
      }
      let settled = false
      return {
        size,
        sha256: hash.digest('hex'),
        async commit(id) {
          settled = true
          await rename(temp, pathOf(id))
          await fsyncPath(blobs)
        },
        async discard() {
          if (settled) return
          settled = true
          await rm(temp, { force: true })
        },
      }
    },
    read: (id) => createReadStream(pathOf(id)),
    async has(id) {
      try {
        return (await stat(pathOf(id))).isFile()
      } catch {
        return false
      }
    },
    delete: (id) => rm(pathOf(id), { force: true }),
    async list() {
      const names = (await readdir(blobs)).filter((n) => BLOB_ID.test(n))
      const entries = await Promise.all(
        names.map(async (id) => {
          try {
            return { id, modifiedAt: (await stat(join(blobs, id))).mtime }
          } catch {
            return null // deleted meanwhile
          }
        }),
      )
      return entries.filter((e) => e !== null)
    },
    async removeAbandoned(olderThan) {
      let removed = 0
      for (const name of await readdir(incoming)) {
        const path = join(incoming, name)
        try {
          if ((await stat(path)).mtime < olderThan) {
            await rm(path, { force: true })
            removed++
          }
        } catch {
          // gone already
        }
      }
      return removed
    },
  }
}
