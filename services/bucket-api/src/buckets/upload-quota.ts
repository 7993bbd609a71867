// Per-sender limits on uploads, so one account cannot fill the disk: bytes
// and buckets whose blobs are still on disk, and uploads started per hour.
// An upload reserves its bytes before its body is read, in a transaction
// serialised per sender (PostgreSQL: an advisory lock on the sender; SQLite:
// the write lock every transaction takes up front), so parallel uploads see
// each other's reservations and together never pass the limits.
import { randomUUID } from 'node:crypto'
import { type DatabaseHandle, HttpProblem } from '@docs-mesh/platform'
import { sql } from 'kysely'

export interface UploadLimits {
  /** Ciphertext bytes a sender may have on disk (active and claimed buckets not yet removed). */
  activeBytes: number
  /** Buckets a sender may have on disk. */
  activeCount: number
  /** Uploads a sender may start in any hour, whether they succeed or not. */
  perHour: number
}

export interface Reservation {
  /** Ends the reservation: the bucket row counts from now on, or the upload failed. */
  release(): Promise<void>
}

const HOUR_MS = 3_600_000
// An arbitrary constant naming the quota's advisory locks (the second key is the sender's).
const QUOTA_LOCK_KEY = 0x71756f74

export function createUploadQuota(handle: DatabaseHandle, limits: UploadLimits) {
  const { db } = handle

  async function reserve(senderId: string, bytes: number, now = new Date()): Promise<Reservation> {
    const id = randomUUID()
    const hourAgo = new Date(now.getTime() - HOUR_MS).toISOString()
    await db.transaction().execute(async (trx) => {
      if (handle.kind === 'postgres')
        await sql`select pg_advisory_xact_lock(${QUOTA_LOCK_KEY}, hashtext(${senderId}))`.execute(trx)
      const started = await trx
        .selectFrom('upload_reservations')
        .select([
          (eb) => eb.fn.countAll<number | string>().as('n'),
          (eb) => eb.fn.min('created_at').as('oldest'),
        ])
        .where('sender_id', '=', senderId)
        .where('created_at', '>', hourAgo)
        .executeTakeFirstOrThrow()
      if (Number(started.n) >= limits.perHour) {
        const retryAfter = Math.max(
          1,
          Math.ceil((Date.parse(String(started.oldest)) + HOUR_MS - now.getTime()) / 1000),
        )
        throw new HttpProblem(
          429,
          'ERR_UPLOAD_RATE',
          `at most ${limits.perHour} uploads an hour; try again in ${retryAfter} seconds`,
          { headers: { 'retry-after': String(retryAfter) } },
        )
      }
      const stored = await trx
        .selectFrom('buckets')
        .select([
          (eb) => eb.fn.countAll<number | string>().as('n'),
          (eb) => eb.fn.sum<number | string | null>('ciphertext_size').as('bytes'),
        ])
        .where('sender_id', '=', senderId)
        .where('blob_deleted_at', 'is', null)
        .executeTakeFirstOrThrow()
      // Reservations of uploads still running (an hour is far past any upload's time limit).
      const pending = await trx
        .selectFrom('upload_reservations')
        .select([
          (eb) => eb.fn.countAll<number | string>().as('n'),
          (eb) => eb.fn.sum<number | string | null>('bytes').as('bytes'),
        ])
        .where('sender_id', '=', senderId)
        .where('released_at', 'is', null)
        .where('created_at', '>', hourAgo)
        .executeTakeFirstOrThrow()
      const count = Number(stored.n) + Number(pending.n)
      if (count >= limits.activeCount)
        throw new HttpProblem(
          403,
          'ERR_QUOTA_ACTIVE_COUNT',
          `you have ${count} transfers stored or uploading, the most allowed is ${limits.activeCount}; withdraw one or wait for them to be claimed and expire`,
        )
      const used = Number(stored.bytes ?? 0) + Number(pending.bytes ?? 0)
      if (used + bytes > limits.activeBytes)
        throw new HttpProblem(
          403,
          'ERR_QUOTA_ACTIVE_BYTES',
          `this upload may need ${bytes} bytes and you have ${used} of ${limits.activeBytes} in use`,
        )
      await trx
        .insertInto('upload_reservations')
        .values({ id, sender_id: senderId, bytes, created_at: now.toISOString(), released_at: null })
        .execute()
    })
    return {
      async release() {
        await db
          .updateTable('upload_reservations')
          .set({ released_at: new Date().toISOString() })
          .where('id', '=', id)
          .where('released_at', 'is', null)
          .execute()
      },
    }
  }

  /** Forgets reservations older than an hour: they no longer count for anything. */
  async function forgetOld(now = new Date()): Promise<number> {
    const result = await db
      .deleteFrom('upload_reservations')
      .where('created_at', '<=', new Date(now.getTime() - HOUR_MS).toISOString())
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }

  return { reserve, forgetOld, limits }
}

export type UploadQuota = ReturnType<typeof createUploadQuota>
