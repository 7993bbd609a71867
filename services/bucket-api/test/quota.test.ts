// Per-sender upload limits, on both databases: parallel uploads cannot pass
// the limit on stored transfers together, bytes on disk are counted with the
// uploads still running, uploads an hour are capped (failed ones count), and
// nobody sends to themselves.
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealFile, uploadForm } from './browser.ts'
import { type BucketFixture, startBucketFixture, type TestUser } from './fixture.ts'

const pdf = (bytes: number) =>
  Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(bytes, 'a'), Buffer.from('\n%%EOF\n')])

describe.each(testDatabaseKinds(process.env))('upload quotas on %s', (kind) => {
  let f: BucketFixture
  beforeAll(async () => {
    f = await startBucketFixture(kind, {
      UPLOAD_QUOTA_ACTIVE_COUNT: '2',
      UPLOAD_QUOTA_ACTIVE_BYTES: '450000',
      UPLOAD_RATE_PER_HOUR: '4',
    })
  })
  afterAll(() => f.close())

  const send = async (from: TestUser, to: TestUser, size = 1000) => {
    const sealed = await sealFile({
      plaintext: pdf(size),
      filename: 'a.pdf',
      contentType: 'application/pdf',
      recipient: to.email,
      recipientKey: to.encryptionKey,
      sender: from.keys,
      senderKeyId: from.signingKeyId,
    })
    const res = await fetch(`${f.url}/buckets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${from.token}` },
      body: uploadForm(sealed),
    })
    return {
      status: res.status,
      body: (await res.json()) as { code?: string; id?: string },
      headers: res.headers,
    }
  }
  const stored = async (sender: TestUser) =>
    (await f.app.database.db.selectFrom('buckets').select('id').where('sender_id', '=', sender.id).execute())
      .length

  it('lets only as many of 5 parallel uploads through as the sender may store', async () => {
    const { alice, bob } = f.users
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => send(alice, bob)))
    const statuses = results.map((r) => r.status).sort()
    expect(statuses).toEqual([201, 201, 403, 403, 403])
    for (const r of results.filter((r) => r.status === 403))
      expect(r.body).toMatchObject({ code: 'ERR_QUOTA_ACTIVE_COUNT' })
    expect(await stored(alice)).toBe(2)

    // Withdrawing one frees its place.
    const first = results.find((r) => r.status === 201)!.body.id
    const withdrawn = await f.app.inject({
      method: 'DELETE',
      url: `/buckets/${first}`,
      headers: { authorization: `Bearer ${alice.token}` },
    })
    expect(withdrawn.statusCode).toBeLessThan(300)
    expect((await send(alice, bob)).status).toBe(201)
  })

  it('counts the bytes on disk, and refuses an upload that would pass the limit', async () => {
    const { carol, alice } = f.users
    expect((await send(carol, alice, 300_000)).status).toBe(201)
    const second = await send(carol, alice, 300_000)
    expect(second).toMatchObject({ status: 403, body: { code: 'ERR_QUOTA_ACTIVE_BYTES' } })
    expect(await stored(carol)).toBe(1)
  })

  it('refuses a send to oneself, and caps the uploads started in an hour, failed ones too', async () => {
    const { bob } = f.users
    for (let i = 0; i < 4; i++)
      expect(await send(bob, bob)).toMatchObject({ status: 400, body: { code: 'ERR_SELF_SEND' } })
    const fifth = await send(bob, f.users.alice)
    expect(fifth).toMatchObject({ status: 429, body: { code: 'ERR_UPLOAD_RATE' } })
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThan(3000)
    expect(await stored(bob)).toBe(0)
  })
})
