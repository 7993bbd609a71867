// A person's two key pairs, made with WebCrypto as non-extractable keys:
// Ed25519 to sign what they send, X25519 to receive.
import type { Key, KeyPair } from './types.ts'

export async function makeKeyPairs(): Promise<{ signing: KeyPair; encryption: KeyPair }> {
  const signing = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, [
    'sign',
    'verify',
  ])) as unknown as KeyPair
  const encryption = (await crypto.subtle.generateKey({ name: 'X25519' }, false, [
    'deriveBits',
  ])) as unknown as KeyPair
  return { signing, encryption }
}

/** What POST /auth/keys takes for each key: the public half as a JWK. */
export const publicJwk = (key: Key) => crypto.subtle.exportKey('jwk', key)
