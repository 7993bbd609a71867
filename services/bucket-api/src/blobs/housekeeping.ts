// bucket-api's two jobs. Expiry: active buckets past their time become
// expired, and every bucket's blob is removed once it expires. Sweeping:
// uploads abandoned mid-stream and committed blobs no bucket refers to (a
// crash between the blob's rename and the row's insert, or a failed receipt)
// are removed once older than the grace period, so an upload in flight is
// never touched. Both are safe to run from several replicas at once.
import { appendAuditEntry, type DatabaseHandle } from '@docs-mesh/platform'
import type { BlobStore } from './blob-store.ts'

export function createHousekeeping(handle: DatabaseHandle, blobs: BlobStore, options: { graceMs: number }) {
  const { db } = handle
  return {
    async expire(now = new Date()): Promise<{ expired: number; blobsRemoved: number }> {
      const at = now.toISOString()
      const due = await db
        .selectFrom('buckets')
        .select(['id', 'status'])
        .where('expires_at', '<=', at)
        .where('blob_deleted_at', 'is', null)
        .execute()
      let expired = 0
      for (const bucket of due) {
        if (bucket.status === 'active') {
          const changed = await db
            .updateTable('buckets')
            .set({ status: 'expired', expired_at: at })
            .where('id', '=', bucket.id)
            .where('status', '=', 'active')
            .executeTakeFirst()
          if (changed.numUpdatedRows === 1n) {
            expired++
            await appendAuditEntry(handle, { type: 'bucket.expire', data: { bucket_id: bucket.id } })
          }
        }
        await blobs.delete(bucket.id)
        await db.updateTable('buckets').set({ blob_deleted_at: at }).where('id', '=', bucket.id).execute()
      }
      return { expired, blobsRemoved: due.length }
    },

    async sweep(now = new Date()): Promise<{ abandoned: number; orphans: number }> {
      const cutoff = new Date(now.getTime() - options.graceMs)
      const abandoned = await blobs.removeAbandoned(cutoff)
      const old = (await blobs.list()).filter((b) => b.modifiedAt < cutoff)
      let orphans = 0
      for (let i = 0; i < old.length; i += 500) {
        const ids = old.slice(i, i + 500).map((b) => b.id)
        const live = new Set(
          (
            await db
              .selectFrom('buckets')
              .select('id')
              .where('id', 'in', ids)
              .where('blob_deleted_at', 'is', null)
              .execute()
          ).map((r) => r.id),
        )
        for (const id of ids) {
          if (live.has(id)) continue
          await blobs.delete(id)
          orphans++
        }
      }
      return { abandoned, orphans }
    },
  }
}

export type Housekeeping = ReturnType<typeof createHousekeeping>
