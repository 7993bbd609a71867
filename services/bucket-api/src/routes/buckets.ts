// A user's buckets: the inbox and outbox (paginated, newest first), one
// bucket, claiming it (the recipient, once, before expiry: 403, 400 and 410
// otherwise), downloading its ciphertext once claimed, and withdrawing it
// (the sender, before the claim).
import { appendAuditEntry, type BucketTable, HttpProblem, type ServiceApp } from '@docs-mesh/platform'
import Type, { type Static } from 'typebox'
import type { BlobStore } from '../blobs/blob-store.ts'
import { partiesOf } from '../buckets/parties.ts'
import { BucketView, bucketView, Envelope, effectiveStatus } from '../buckets/views.ts'

const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }) })

interface Cursor {
  created_at: string
  id: string
}
const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url')
function decodeCursor(value: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(value, 'base64url').toString()) as Cursor
    if (typeof c.created_at === 'string' && typeof c.id === 'string') return c
  } catch {
    // fall through
  }
  throw new HttpProblem(400, 'ERR_CURSOR_INVALID', 'cursor is not one this API gave out')
}

export function bucketRoutes(app: ServiceApp, options: { blobs: BlobStore }): void {
  const { db } = app.database

  async function views(rows: BucketTable[]) {
    const parties = await partiesOf(
      app.database,
      rows.flatMap((r) => [r.sender_id, r.recipient_id]),
    )
    return rows.map((r) =>
      bucketView(r, { sender: parties.get(r.sender_id)!, recipient: parties.get(r.recipient_id)! }),
    )
  }

  /** The bucket if the caller is its sender or recipient; anyone else learns nothing, not even that it exists. */
  async function bucketFor(id: string, userId: string): Promise<BucketTable> {
    const row = await db.selectFrom('buckets').selectAll().where('id', '=', id).executeTakeFirst()
    if (!row || (row.sender_id !== userId && row.recipient_id !== userId))
      throw new HttpProblem(404, 'ERR_BUCKET_NOT_FOUND', 'no such bucket')
    return row
  }

  /**
   * Moves an active, unexpired bucket to `claimed` or `withdrawn` in one
   * conditional statement (of two requests at once, exactly one changes the
   * row), or says why it cannot: claimed already (`claimedStatus`), or gone (410).
   */
  async function leaveActive(
    row: BucketTable,
    userId: string,
    change: { status: 'claimed'; claimed_at: string } | { status: 'withdrawn'; withdrawn_at: string },
    claimedStatus: 400 | 409,
  ): Promise<void> {
    const now = new Date().toISOString()
    const moved = await db
      .updateTable('buckets')
      .set(change)
      .where('id', '=', row.id)
      .where('status', '=', 'active')
      .where('expires_at', '>', now)
      .executeTakeFirst()
    if (moved.numUpdatedRows === 1n) return
    const status = effectiveStatus(await bucketFor(row.id, userId))
    if (status === 'claimed')
      throw new HttpProblem(claimedStatus, 'ERR_ALREADY_CLAIMED', 'this bucket was already claimed')
    throw new HttpProblem(
      410,
      status === 'withdrawn' ? 'ERR_BUCKET_WITHDRAWN' : 'ERR_BUCKET_EXPIRED',
      `this bucket is ${status}`,
    )
  }

  app.get(
    '/buckets',
    {
      config: { session: 'user' },
      schema: {
        tags: ['buckets'],
        security: [{ session: [] }],
        querystring: Type.Object(
          {
            box: Type.Enum(['inbox', 'outbox'], { default: 'inbox' }),
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
            cursor: Type.Optional(Type.String({ maxLength: 300 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(BucketView),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const { box, limit, cursor } = request.query
      let query = db
        .selectFrom('buckets')
        .selectAll()
        .where(box === 'inbox' ? 'recipient_id' : 'sender_id', '=', request.session!.userId)
      if (cursor) {
        const c = decodeCursor(cursor)
        query = query.where((eb) =>
          eb.or([
            eb('created_at', '<', c.created_at),
            eb.and([eb('created_at', '=', c.created_at), eb('id', '<', c.id)]),
          ]),
        )
      }
      const rows = await query
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute()
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return {
        items: await views(page),
        next_cursor:
          rows.length > limit && last ? encodeCursor({ created_at: last.created_at, id: last.id }) : null,
      }
    },
  )

  app.get(
    '/buckets/:id',
    {
      config: { session: 'user' },
      schema: {
        tags: ['buckets'],
        security: [{ session: [] }],
        params: IdParams,
        response: { 200: Type.Object({ ...BucketView.properties, envelope: Type.Optional(Envelope) }) },
      },
    },
    async (request) => {
      const { userId } = request.session!
      const row = await bucketFor(request.params.id, userId)
      const view = (await views([row]))[0]!
      // The recipient opens a claimed file again with its envelope.
      return row.recipient_id === userId && row.status === 'claimed'
        ? { ...view, envelope: JSON.parse(row.envelope) as Static<typeof Envelope> }
        : view
    },
  )

  app.post(
    '/buckets/:id/claim',
    {
      config: { session: 'user' },
      schema: {
        tags: ['buckets'],
        security: [{ session: [] }],
        params: IdParams,
        response: {
          200: Type.Object({ bucket: BucketView, envelope: Envelope, content_url: Type.String() }),
        },
      },
    },
    async (request) => {
      const { userId } = request.session!
      const row = await bucketFor(request.params.id, userId)
      if (row.recipient_id !== userId)
        throw new HttpProblem(403, 'ERR_NOT_RECIPIENT', 'only the recipient may claim this bucket')
      await leaveActive(row, userId, { status: 'claimed', claimed_at: new Date().toISOString() }, 400)
      await appendAuditEntry(app.database, {
        type: 'bucket.claim',
        data: { bucket_id: row.id, recipient_id: userId },
      })
      const updated = await bucketFor(row.id, userId)
      return {
        bucket: (await views([updated]))[0]!,
        envelope: JSON.parse(updated.envelope) as Static<typeof Envelope>,
        content_url: `/buckets/${row.id}/content`,
      }
    },
  )

  app.get(
    '/buckets/:id/content',
    {
      config: { session: 'user' },
      schema: { tags: ['buckets'], security: [{ session: [] }], params: IdParams },
    },
    async (request, reply) => {
      const { userId } = request.session!
      const row = await bucketFor(request.params.id, userId)
      if (row.recipient_id !== userId)
        throw new HttpProblem(403, 'ERR_NOT_RECIPIENT', 'only the recipient may download this bucket')
      // Gone before not-yet-claimed: a bucket that can no longer be claimed must not say "claim it first".
      const status = effectiveStatus(row)
      if (status === 'withdrawn')
        throw new HttpProblem(410, 'ERR_BUCKET_WITHDRAWN', 'this bucket is withdrawn')
      if (status === 'expired' || row.blob_deleted_at !== null || Date.parse(row.expires_at) <= Date.now())
        throw new HttpProblem(410, 'ERR_BUCKET_EXPIRED', 'this bucket has expired')
      if (status !== 'claimed') throw new HttpProblem(409, 'ERR_NOT_CLAIMED', 'claim the bucket first')
      // A blob lost with its volume (an emptyDir outliving no pod) is gone, not an internal error.
      if (!(await options.blobs.has(row.id)))
        throw new HttpProblem(
          410,
          'ERR_BLOB_GONE',
          'the encrypted file is no longer stored; ask the sender to send it again',
        )
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-length', String(row.ciphertext_size))
        .header('cache-control', 'no-store')
        .header('x-ciphertext-sha256', row.ciphertext_sha256)
        .send(options.blobs.read(row.id))
    },
  )

  app.delete(
    '/buckets/:id',
    {
      config: { session: 'user' },
      schema: {
        tags: ['buckets'],
        security: [{ session: [] }],
        params: IdParams,
        response: { 200: BucketView },
      },
    },
    async (request) => {
      const { userId } = request.session!
      const row = await bucketFor(request.params.id, userId)
      if (row.sender_id !== userId)
        throw new HttpProblem(403, 'ERR_NOT_SENDER', 'only the sender may withdraw this bucket')
      const now = new Date().toISOString()
      await leaveActive(row, userId, { status: 'withdrawn', withdrawn_at: now }, 409)
      await options.blobs.delete(row.id)
      await db.updateTable('buckets').set({ blob_deleted_at: now }).where('id', '=', row.id).execute()
      await appendAuditEntry(app.database, {
        type: 'bucket.withdraw',
        data: { bucket_id: row.id, sender_id: userId },
      })
      return (await views([await bucketFor(row.id, userId)]))[0]!
    },
  )
}
