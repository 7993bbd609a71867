// This browser's keys: Ed25519 to sign what it sends, X25519 to receive.
// Made with WebCrypto as non-extractable keys and kept in IndexedDB (which
// stores CryptoKey objects as they are): scripts can use them but nobody,
// not even this app, can read the private halves out. The flip side: they
// cannot be backed up. Lose this browser's storage and you register new keys;
// files sealed to the old ones can no longer be opened.
import { del, get, set } from 'idb-keyval'

export interface StoredKeys {
  userId: string
  signing: CryptoKeyPair
  encryption: CryptoKeyPair
  signingKeyId: string
  encryptionKeyId: string
}

const slot = (userId: string) => `docs-mesh-keys:${userId}`

export async function makeKeyPairs(): Promise<{ signing: CryptoKeyPair; encryption: CryptoKeyPair }> {
  const signing = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  const encryption = (await crypto.subtle.generateKey({ name: 'X25519' }, false, [
    'deriveBits',
  ])) as CryptoKeyPair
  return { signing, encryption }
}

export const publicJwk = (key: CryptoKey) => crypto.subtle.exportKey('jwk', key)

export const loadKeys = (userId: string) => get<StoredKeys>(slot(userId))
export const saveKeys = (keys: StoredKeys) => set(slot(keys.userId), keys)
export const forgetKeys = (userId: string) => del(slot(userId))
