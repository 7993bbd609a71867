// The document flow with real cryptography, the test playing both browsers:
// alice seals a PDF to bob and uploads it; bob claims, downloads, opens and
// verifies it; and every way it may be refused.
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { verifyAuditChain } from '@docs-mesh/platform'
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OpenError, openFile, sealFile, uploadForm } from './browser.ts'
import { type BucketFixture, startBucketFixture, type TestUser } from './fixture.ts'

// biome-ignore lint/suspicious/noExplicitAny: a response body, asserted field by field
type BucketJson = Record<string, any> & { id: string; plaintext_sha256: string; content_type: string }

const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(200_000, 'a'), Buffer.from('\n%%EOF\n')])

describe.each(testDatabaseKinds(process.env))('the document flow on %s', (kind) => {
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
  const seal = (
    options: {
      from?: TestUser
      to?: TestUser
      plaintext?: Buffer
      filename?: string
      contentType?: string
    } = {},
  ) => {
    const from = options.from ?? alice
    const to = options.to ?? bob
    return sealFile({
      plaintext: options.plaintext ?? PDF,
      filename: options.filename ?? 'contract.final.pdf',
      contentType: options.contentType ?? 'application/pdf',
      recipient: to.email,
      recipientKey: to.encryptionKey,
      sender: from.keys,
      senderKeyId: from.signingKeyId,
    })
  }
  const upload = async (form: FormData, as: TestUser = alice) => {
    const res = await fetch(`${f.url}/buckets`, { method: 'POST', headers: auth(as), body: form })
    return { status: res.status, body: (await res.json()) as BucketJson }
  }
  const send = async (options?: Parameters<typeof seal>[0], extra?: Record<string, string>) =>
    upload(uploadForm(await seal(options), extra), options?.from)
  const call = (method: string, url: string, as: TestUser) =>
    f.app.inject({ method: method as 'GET', url, headers: auth(as) })
  const blobs = () => readdirSync(join(f.blobDir, 'blobs'))
  const bucketCount = async () =>
    (await f.app.database.db.selectFrom('buckets').select('id').execute()).length

  it('sends, claims, opens and verifies a PDF end to end', async () => {
    const sent = await send()
    expect(sent.status).toBe(201)
    const bucket = sent.body
    expect(bucket).toMatchObject({
      status: 'active',
      sender: { id: alice.id, email: alice.email },
      recipient: { id: bob.id, email: bob.email },
      filename: 'contract_final.pdf',
      content_type: 'application/pdf',
      size: PDF.length,
    })
    expect(Date.parse(bucket.expires_at) - Date.parse(bucket.created_at)).toBe(7 * 86_400_000)

    // The receipt is the platform's signature, checkable by anyone at /verify.
    const receipt = await f.verification.inject({
      method: 'POST',
      url: '/verify',
      payload: {
        sha256: bucket.receipt.sha256,
        signature: bucket.receipt.signature,
        key_id: bucket.receipt.key_id,
      },
    })
    expect(receipt.json()).toMatchObject({ valid: true, trusted: true, key_owner: 'platform' })

    const inbox = (await call('GET', '/buckets?box=inbox', bob)).json()
    expect(inbox.items.map((b: { id: string }) => b.id)).toContain(bucket.id)

    const claim = await call('POST', `/buckets/${bucket.id}/claim`, bob)
    expect(claim.statusCode).toBe(200)
    const { envelope, content_url } = claim.json()
    // Opening it again later: the recipient gets the envelope with the bucket; the sender does not.
    expect((await call('GET', `/buckets/${bucket.id}`, bob)).json().envelope).toEqual(envelope)
    expect((await call('GET', `/buckets/${bucket.id}`, alice)).json()).not.toHaveProperty('envelope')
    const content = await fetch(`${f.url}${content_url}`, { headers: auth(bob) })
    expect(content.status).toBe(200)
    const ciphertext = Buffer.from(await content.arrayBuffer())
    const plaintext = await openFile({ ciphertext, envelope, bucket, recipient: bob.keys })
    expect(plaintext.equals(PDF)).toBe(true)

    // bob checks alice's signature at verification-api: her key is attested.
    const verdict = await f.verification.inject({
      method: 'POST',
      url: '/verify',
      payload: {
        sha256: bucket.plaintext_sha256,
        signature: envelope.sender_signature,
        key_id: envelope.sender_key_id,
      },
    })
    expect(verdict.json()).toEqual({
      valid: true,
      trusted: true,
      reason: 'valid',
      key_owner: 'user',
      user_id: alice.id,
    })

    const types = (await f.app.database.db.selectFrom('audit_entries').select(['type', 'data']).execute())
      .filter((e) => JSON.parse(e.data).bucket_id === bucket.id)
      .map((e) => e.type)
    expect(types).toEqual(['bucket.create', 'bucket.claim'])
    expect((await verifyAuditChain(f.app.database)).valid).toBe(true)
  })

  it("refuses a tampered ciphertext in the recipient's browser", async () => {
    const { body: bucket } = await send()
    const { envelope } = (await call('POST', `/buckets/${bucket.id}/claim`, bob)).json()
    const ciphertext = Buffer.from(
      await (await fetch(`${f.url}/buckets/${bucket.id}/content`, { headers: auth(bob) })).arrayBuffer(),
    )
    ciphertext[100] = (ciphertext[100] ?? 0) ^ 1
    await expect(openFile({ ciphertext, envelope, bucket, recipient: bob.keys })).rejects.toThrow(OpenError)
    // And a file sealed to bob does not open with carol's key.
    const intact = Buffer.from(
      await (await fetch(`${f.url}/buckets/${bucket.id}/content`, { headers: auth(bob) })).arrayBuffer(),
    )
    await expect(openFile({ ciphertext: intact, envelope, bucket, recipient: carol.keys })).rejects.toThrow(
      /does not decrypt/,
    )
    // A blob lost from disk (an emptyDir gone with its pod) is reported as gone, not as a server error.
    rmSync(join(f.blobDir, 'blobs', bucket.id))
    const lost = await call('GET', `/buckets/${bucket.id}/content`, bob)
    expect(lost.json()).toMatchObject({ status: 410, code: 'ERR_BLOB_GONE' })
  })

  it('lets only the recipient claim, once; before expiry; not after a withdrawal', async () => {
    const { body: bucket } = await send()
    expect((await call('POST', `/buckets/${bucket.id}/claim`, alice)).json()).toMatchObject({
      status: 403,
      code: 'ERR_NOT_RECIPIENT',
    })
    expect((await call('POST', `/buckets/${bucket.id}/claim`, carol)).json()).toMatchObject({ status: 404 })
    expect((await call('GET', `/buckets/${bucket.id}`, carol)).statusCode).toBe(404)
    expect((await call('POST', `/buckets/${bucket.id}/claim`, bob)).statusCode).toBe(200)
    expect((await call('POST', `/buckets/${bucket.id}/claim`, bob)).json()).toMatchObject({
      status: 400,
      code: 'ERR_ALREADY_CLAIMED',
    })
    expect((await call('DELETE', `/buckets/${bucket.id}`, alice)).json()).toMatchObject({
      status: 409,
      code: 'ERR_ALREADY_CLAIMED',
    })

    const { body: late } = await send()
    await f.app.database.db
      .updateTable('buckets')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', late.id)
      .execute()
    expect((await call('POST', `/buckets/${late.id}/claim`, bob)).json()).toMatchObject({
      status: 410,
      code: 'ERR_BUCKET_EXPIRED',
    })
    expect((await call('GET', `/buckets/${late.id}`, bob)).json()).toMatchObject({ status: 'expired' })

    const { body: gone } = await send()
    expect((await call('DELETE', `/buckets/${gone.id}`, bob)).json()).toMatchObject({
      status: 403,
      code: 'ERR_NOT_SENDER',
    })
    const withdrawn = await call('DELETE', `/buckets/${gone.id}`, alice)
    expect(withdrawn.json()).toMatchObject({ status: 'withdrawn' })
    expect(blobs()).not.toContain(gone.id)
    expect((await call('POST', `/buckets/${gone.id}/claim`, bob)).json()).toMatchObject({
      status: 410,
      code: 'ERR_BUCKET_WITHDRAWN',
    })
    const audit = await f.app.database.db
      .selectFrom('audit_entries')
      .select('data')
      .where('type', '=', 'bucket.withdraw')
      .execute()
    expect(audit.map((a) => JSON.parse(a.data).bucket_id)).toContain(gone.id)
  })

  it('gives exactly one of many concurrent claims', async () => {
    const { body: bucket } = await send()
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        fetch(`${f.url}/buckets/${bucket.id}/claim`, { method: 'POST', headers: auth(bob) }),
      ),
    )
    const statuses = results.map((r) => r.status).sort()
    expect(statuses.filter((s) => s === 200)).toHaveLength(1)
    expect(statuses.filter((s) => s === 400)).toHaveLength(11)
  })

  it('pages through the outbox, newest first, without repeats', async () => {
    const sent: string[] = []
    for (let i = 0; i < 5; i++)
      sent.push(
        (
          await send({
            from: carol,
            plaintext: Buffer.from(`note ${i}\n`),
            filename: `n${i}.txt`,
            contentType: 'text/plain',
          })
        ).body.id,
      )
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: { items: Array<{ id: string }>; next_cursor: string | null } = (
        await call('GET', `/buckets?box=outbox&limit=2${cursor ? `&cursor=${cursor}` : ''}`, carol)
      ).json()
      expect(page.items.length).toBeLessThanOrEqual(2)
      seen.push(...page.items.map((b: { id: string }) => b.id))
      cursor = page.next_cursor
    } while (cursor)
    expect(seen).toEqual([...sent].reverse())
    expect((await call('GET', '/buckets?box=outbox&cursor=nonsense', carol)).json()).toMatchObject({
      status: 400,
      code: 'ERR_CURSOR_INVALID',
    })
  })

  it('looks recipients up by e-mail for the sender to seal to', async () => {
    const res = await call(
      'GET',
      `/buckets/recipients?email=${encodeURIComponent(bob.email.toUpperCase())}`,
      alice,
    )
    expect(res.json()).toMatchObject({
      id: bob.id,
      keys: { encryption: { key_id: bob.encryptionKey.key_id, public_key: bob.encryptionKey.public_key } },
    })
    expect((await call('GET', '/buckets/recipients?email=nobody@example.test', alice)).json()).toMatchObject({
      status: 404,
      code: 'ERR_RECIPIENT_UNKNOWN',
    })
    expect((await f.app.inject({ url: '/buckets/recipients?email=x@y.z' })).statusCode).toBe(401)
  })

  it('refuses what it can tell is wrong without the plaintext, and keeps nothing of it', async () => {
    const before = { buckets: await bucketCount(), blobs: blobs().length }
    const good = await seal()
    const cases: Array<[Record<string, string>, number, string]> = [
      [{ content_type: 'application/x-msdownload' }, 400, 'ERR_CONTENT_TYPE'],
      [{ plaintext_sha256: 'ab'.repeat(31) }, 400, 'ERR_VALIDATION'],
      [{ plaintext_sha256: 'AB'.repeat(32) }, 400, 'ERR_VALIDATION'],
      [{ size: String(PDF.length + 1) }, 400, 'ERR_SIZE_MISMATCH'],
      [{ size: String(6 * 1024 * 1024) }, 400, 'ERR_VALIDATION'],
      [{ hpke_enc: 'AAAA' }, 400, 'ERR_ENVELOPE'],
      [{ wrapped_key: good.fields.hpke_enc as string }, 400, 'ERR_ENVELOPE'],
      [{ iv: 'not base64url!' }, 400, 'ERR_ENVELOPE'],
      [{ sender_signature: Buffer.alloc(64).toString('base64url') }, 400, 'ERR_SIGNATURE_INVALID'],
      [{ sender_key_id: bob.signingKeyId }, 400, 'ERR_SENDER_KEY'],
      [{ recipient: 'nobody@example.test' }, 400, 'ERR_RECIPIENT_UNKNOWN'],
      [{ recipient_key_id: carol.encryptionKey.key_id }, 409, 'ERR_RECIPIENT_KEY_CHANGED'],
      [{ expires_in_days: '31' }, 400, 'ERR_VALIDATION'],
      [{ expires_in_days: '0' }, 400, 'ERR_VALIDATION'],
      [{ surprise: 'field' }, 400, 'ERR_VALIDATION'],
    ]
    for (const [extra, status, code] of cases) {
      const res = await upload(uploadForm(good, extra))
      expect(res, JSON.stringify(extra)).toMatchObject({ status, body: { code } })
    }
    const missing = new FormData()
    for (const [k, v] of Object.entries(good.fields)) if (k !== 'iv') missing.append(k, v)
    missing.append('ciphertext', new Blob([new Uint8Array(good.ciphertext)]))
    expect((await upload(missing)).body).toMatchObject({ code: 'ERR_VALIDATION', detail: 'missing field iv' })
    const noFile = new FormData()
    for (const [k, v] of Object.entries(good.fields)) noFile.append(k, v)
    expect((await upload(noFile)).body).toMatchObject({ code: 'ERR_VALIDATION' })
    const json = await fetch(`${f.url}/buckets`, {
      method: 'POST',
      headers: { ...auth(alice), 'content-type': 'application/json' },
      body: '{}',
    })
    expect(json.status).toBe(415)
    expect(await bucketCount()).toBe(before.buckets)
    expect(blobs()).toHaveLength(before.blobs)
    expect(readdirSync(join(f.blobDir, 'incoming'))).toEqual([])
  })

  it('answers a malformed or cut-short multipart body with a problem 400, keeping nothing', async () => {
    const before = { buckets: await bucketCount(), blobs: blobs().length }
    const good = await seal()
    const whole = Buffer.from(await new Response(uploadForm(good)).arrayBuffer())
    const boundary = whole.toString('latin1').split('\r\n')[0]?.slice(2) as string
    const form = `multipart/form-data; boundary=${boundary}`
    const cases: Array<[string, string, Buffer | string]> = [
      ['a body of abc', form, 'abc'],
      ['no boundary parameter', 'multipart/form-data', whole],
      ['an empty boundary', 'multipart/form-data; boundary=', whole],
      ['an empty body', form, ''],
      ['a body cut short in a field', form, whole.subarray(0, 200)],
      ['a body cut short in the file', form, whole.subarray(0, whole.length - 1000)],
      ['no closing delimiter', form, whole.subarray(0, whole.length - boundary.length - 6)],
      ['a malformed part header', form, `--${boundary}\r\nno colon here\r\n\r\nvalue\r\n--${boundary}--\r\n`],
      [
        'a part with no name',
        form,
        `--${boundary}\r\nContent-Type: text/plain\r\n\r\nvalue\r\n--${boundary}--\r\n`,
      ],
      [
        'a prototype field name',
        form,
        `--${boundary}\r\nContent-Disposition: form-data; name="__proto__"\r\n\r\nx\r\n--${boundary}--\r\n`,
      ],
      [
        'a JSON field that is not JSON',
        form,
        `--${boundary}\r\nContent-Disposition: form-data; name="size"\r\nContent-Type: application/json\r\n\r\n{nope\r\n--${boundary}--\r\n`,
      ],
    ]
    for (const [what, contentType, body] of cases) {
      const res = await fetch(`${f.url}/buckets`, {
        method: 'POST',
        headers: { ...auth(alice), 'content-type': contentType },
        body,
      })
      expect(res.status, what).toBeGreaterThanOrEqual(400)
      expect(res.status, what).toBeLessThan(500)
      expect(res.headers.get('content-type'), what).toMatch(/^application\/problem\+json/)
      const problem = (await res.json()) as { code: string }
      expect(['ERR_MULTIPART_INVALID', 'ERR_VALIDATION'], `${what}: ${problem.code}`).toContain(problem.code)
    }
    expect(await bucketCount()).toBe(before.buckets)
    expect(blobs()).toHaveLength(before.blobs)
    expect(readdirSync(join(f.blobDir, 'incoming'))).toEqual([])
  })

  it('stores the filename sanitised and takes expiry from 1 to 30 days', async () => {
    const { body } = await send(
      {
        filename: 'test.exe.png',
        plaintext: Buffer.concat([
          Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
          Buffer.alloc(10),
        ]),
        contentType: 'image/png',
      },
      { expires_in_days: '30' },
    )
    expect(body.filename).toBe('test_exe.png')
    expect(Date.parse(body.expires_at) - Date.parse(body.created_at)).toBe(30 * 86_400_000)
  })

  it('answers 413 to an over-size upload, declared or streamed, without keeping any of it', async () => {
    const big = await seal({
      plaintext: Buffer.alloc(5 * 1024 * 1024 + 1, 'a'),
      filename: 'big.txt',
      contentType: 'text/plain',
    })
    const declared = await upload(uploadForm(big))
    expect(declared).toMatchObject({ status: 413, body: { code: 'ERR_TOO_LARGE' } })

    // No Content-Length: the limit is found while streaming to disk.
    const form = uploadForm(big)
    const body = new Response(form)
    const stream = body.body!
    const res = await fetch(`${f.url}/buckets`, {
      method: 'POST',
      headers: { ...auth(alice), 'content-type': body.headers.get('content-type') ?? '' },
      body: stream,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ code: 'ERR_TOO_LARGE' })
    expect(readdirSync(join(f.blobDir, 'incoming'))).toEqual([])
  })

  it('answers 503 and creates nothing when signing-api cannot sign the receipt', async () => {
    const broken = await startBucketFixture(kind)
    try {
      broken.signingHop.down()
      const sealed = await sealFile({
        plaintext: PDF,
        filename: 'a.pdf',
        contentType: 'application/pdf',
        recipient: broken.users.bob.email,
        recipientKey: broken.users.bob.encryptionKey,
        sender: broken.users.alice.keys,
        senderKeyId: broken.users.alice.signingKeyId,
      })
      const res = await fetch(`${broken.url}/buckets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${broken.users.alice.token}` },
        body: uploadForm(sealed),
      })
      expect(res.status).toBe(503)
      expect(res.headers.get('content-type')).toMatch(/problem\+json/)
      expect(await res.json()).toMatchObject({ code: 'ERR_RECEIPT_UNAVAILABLE' })
      expect(await broken.app.database.db.selectFrom('buckets').selectAll().execute()).toEqual([])
      expect(readdirSync(join(broken.blobDir, 'blobs'))).toEqual([])
      expect(readdirSync(join(broken.blobDir, 'incoming'))).toEqual([])
    } finally {
      await broken.close()
    }
  })

  it('needs a session for everything but health', async () => {
    for (const [method, url] of [
      ['GET', '/buckets'],
      ['POST', '/buckets'],
      ['GET', `/buckets/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`],
    ] as const)
      expect((await f.app.inject({ method, url })).statusCode).toBe(401)
  })
})
