// Who may download a bucket's ciphertext, and what everyone else is told:
// a stranger learns nothing (404, as for a bucket that does not exist), the
// sender is refused (403), the recipient must claim first (409), and a bucket
// that can no longer be claimed or opened is gone (410), even unclaimed.
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sealFile, uploadForm } from './browser.ts'
import { type BucketFixture, startBucketFixture, type TestUser } from './fixture.ts'

const TEXT = Buffer.from('the quarterly figures, in plain UTF-8\n')

describe.each(testDatabaseKinds(process.env))('ciphertext download rules on %s', (kind) => {
  let f: BucketFixture
  let alice: TestUser
  let bob: TestUser
  let carol: TestUser
  beforeAll(async () => {
    f = await startBucketFixture(kind)
    ;({ alice, bob, carol } = f.users)
  })
  afterAll(() => f.close())

  const auth = (u: TestUser) => ({ authorization: `Bearer ${u.token}` })
  /** A fresh bucket from alice to bob. */
  async function send(): Promise<string> {
    const sealed = await sealFile({
      plaintext: TEXT,
      filename: 'figures.txt',
      contentType: 'text/plain',
      recipient: bob.email,
      recipientKey: bob.encryptionKey,
      sender: alice.keys,
      senderKeyId: alice.signingKeyId,
    })
    const res = await fetch(`${f.url}/buckets`, {
      method: 'POST',
      headers: auth(alice),
      body: uploadForm(sealed),
    })
    expect(res.status).toBe(201)
    return ((await res.json()) as { id: string }).id
  }
  const download = (id: string, as: TestUser) =>
    f.app.inject({ method: 'GET', url: `/buckets/${id}/content`, headers: auth(as) })
  const claim = (id: string, as: TestUser) =>
    f.app.inject({ method: 'POST', url: `/buckets/${id}/claim`, headers: auth(as) })
  const expire = (id: string) =>
    f.app.database.db
      .updateTable('buckets')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', id)
      .execute()
  const problem = (res: Awaited<ReturnType<typeof download>>) => ({
    status: res.statusCode,
    code: (res.json() as { code?: string }).code,
    type: res.headers['content-type'],
  })

  it('answers a stranger 404, exactly as for a bucket that does not exist', async () => {
    const id = await send()
    const stranger = await download(id, carol)
    const missing = await download('00000000-0000-4000-8000-000000000000', carol)
    expect(problem(stranger)).toEqual({
      status: 404,
      code: 'ERR_BUCKET_NOT_FOUND',
      type: expect.stringMatching(/problem\+json/),
    })
    expect(stranger.json()).toEqual({
      ...missing.json(),
      instance: expect.any(String),
      request_id: expect.any(String),
    })
    expect((await claim(id, bob)).statusCode).toBe(200)
    expect(problem(await download(id, carol))).toMatchObject({ status: 404, code: 'ERR_BUCKET_NOT_FOUND' })
  })

  it('refuses the sender with 403, before and after the claim', async () => {
    const id = await send()
    expect(problem(await download(id, alice))).toMatchObject({ status: 403, code: 'ERR_NOT_RECIPIENT' })
    expect((await claim(id, bob)).statusCode).toBe(200)
    expect(problem(await download(id, alice))).toMatchObject({ status: 403, code: 'ERR_NOT_RECIPIENT' })
  })

  it('tells the recipient to claim first (409), then gives the ciphertext', async () => {
    const id = await send()
    expect(problem(await download(id, bob))).toMatchObject({ status: 409, code: 'ERR_NOT_CLAIMED' })
    expect((await claim(id, bob)).statusCode).toBe(200)
    const res = await download(id, bob)
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/octet-stream')
    expect(res.rawPayload).toHaveLength(TEXT.length + 16)
  })

  it('answers 410 for an expired bucket, claimed or not, and for a withdrawn one', async () => {
    const claimed = await send()
    expect((await claim(claimed, bob)).statusCode).toBe(200)
    await expire(claimed)
    expect(problem(await download(claimed, bob))).toMatchObject({ status: 410, code: 'ERR_BUCKET_EXPIRED' })

    // Never claimed and now past its expiry: it can no longer be claimed, so "claim first" would be wrong.
    const unclaimed = await send()
    await expire(unclaimed)
    expect(problem(await claim(unclaimed, bob))).toMatchObject({ status: 410, code: 'ERR_BUCKET_EXPIRED' })
    expect(problem(await download(unclaimed, bob))).toMatchObject({ status: 410, code: 'ERR_BUCKET_EXPIRED' })

    const withdrawn = await send()
    expect(
      (await f.app.inject({ method: 'DELETE', url: `/buckets/${withdrawn}`, headers: auth(alice) }))
        .statusCode,
    ).toBe(200)
    expect(problem(await download(withdrawn, bob))).toMatchObject({
      status: 410,
      code: 'ERR_BUCKET_WITHDRAWN',
    })
  })
})
