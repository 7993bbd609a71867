// The browser's cryptography, run in Node's WebCrypto: sealing and opening a
// file, and the checks on either side.
import { describe, expect, it } from 'vitest'
import { fromBase64url, fromHex, toBase64url, toHex } from '../src/crypto/encoding.ts'
import { OpenError, openFile, sealFile } from '../src/crypto/envelope.ts'
import { MAX_FILE_BYTES, typeProblem } from '../src/crypto/file-checks.ts'

const keys = async () => ({
  signing: (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair,
  encryption: (await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair,
})
const bytes = (text: string) => new TextEncoder().encode(text) as Uint8Array<ArrayBuffer>

describe('file checks', () => {
  it.each([
    ['%PDF-1.7 ...', 'application/pdf', null],
    ['not a pdf', 'application/pdf', /does not start like one/],
    ['plain words', 'text/plain', null],
    ['nul\u0000inside', 'text/plain', /NUL/],
    ['#!/bin/sh', 'application/x-sh', /only PDF, plain text, PNG, JPEG/],
    ['', 'text/plain', /empty/],
  ])('%j as %s', (content, type, problem) => {
    const result = typeProblem(bytes(content), type)
    if (problem === null) expect(result).toBeNull()
    else expect(result).toMatch(problem)
  })

  it('checks PNG and JPEG signatures, UTF-8 and the size', () => {
    expect(
      typeProblem(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]), 'image/png'),
    ).toBeNull()
    expect(typeProblem(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]), 'image/jpeg')).toBeNull()
    expect(typeProblem(new Uint8Array([0xff, 0xd8, 0x00]), 'image/jpeg')).toMatch(/JPEG/)
    expect(typeProblem(new Uint8Array([0xc3, 0x28]), 'text/plain')).toMatch(/UTF-8/)
    expect(typeProblem(new Uint8Array(MAX_FILE_BYTES + 1).fill(0x41), 'text/plain')).toMatch(/5 MiB/)
  })
})

describe('encoding', () => {
  it('round-trips base64url and hex', () => {
    const data = crypto.getRandomValues(new Uint8Array(77))
    expect(fromBase64url(toBase64url(data))).toEqual(data)
    expect(toBase64url(new Uint8Array([251, 255]))).toBe('-_8')
    expect(fromHex(toHex(data.buffer))).toEqual(data)
  })
})

describe('sealing and opening', () => {
  it('opens what was sealed to this browser, and refuses anything altered or sealed to someone else', async () => {
    const alice = await keys()
    const bob = await keys()
    const carol = await keys()
    const bobPublic = toBase64url(await crypto.subtle.exportKey('raw', bob.encryption.publicKey))
    const alicePublic = toBase64url(await crypto.subtle.exportKey('raw', alice.signing.publicKey))
    const plaintext = bytes('%PDF-1.7\nhello bob\n')
    const sealed = await sealFile({
      plaintext,
      filename: 'hello.pdf',
      contentType: 'application/pdf',
      recipient: 'bob@example.test',
      recipientKey: { key_id: 'bob-x25519', public_key: bobPublic },
      signingKey: alice.signing.privateKey,
      signingKeyId: 'alice-ed25519',
    })
    expect(sealed.ciphertext.length).toBe(plaintext.length + 16)
    expect(fromBase64url(sealed.fields.wrapped_key ?? '').length).toBe(48)
    const envelope = {
      hpke_enc: sealed.fields.hpke_enc ?? '',
      wrapped_key: sealed.fields.wrapped_key ?? '',
      iv: sealed.fields.iv ?? '',
      sender_signature: sealed.fields.sender_signature ?? '',
      sender_public_key: alicePublic,
    }
    const open = (changes: Partial<Parameters<typeof openFile>[0]> = {}) =>
      openFile({
        ciphertext: sealed.ciphertext.slice().buffer,
        envelope,
        plaintextSha256: sealed.fields.plaintext_sha256 ?? '',
        contentType: 'application/pdf',
        encryption: bob.encryption,
        ...changes,
      })
    expect(new TextDecoder().decode(await open())).toBe('%PDF-1.7\nhello bob\n')

    const tampered = sealed.ciphertext.slice()
    tampered[3] = (tampered[3] ?? 0) ^ 1
    await expect(open({ ciphertext: tampered.buffer })).rejects.toThrow(/does not decrypt/)
    await expect(open({ encryption: carol.encryption })).rejects.toThrow(OpenError)
    await expect(open({ plaintextSha256: '0'.repeat(64) })).rejects.toThrow(/does not match the hash/)
    const otherSigner = toBase64url(await crypto.subtle.exportKey('raw', carol.signing.publicKey))
    await expect(open({ envelope: { ...envelope, sender_public_key: otherSigner } })).rejects.toThrow(
      /signature/,
    )
    await expect(open({ contentType: 'image/png' })).rejects.toThrow(/not what it claims to be/)
  })
})
