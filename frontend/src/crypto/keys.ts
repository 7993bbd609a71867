// This browser's keys: Ed25519 to sign what it sends, X25519 to receive.
// Made with WebCrypto as non-extractable keys and kept in IndexedDB (which
// stores CryptoKey objects as they are): scripts can use them but nobody,
// not even this app, can read the private halves out. The flip side: they
// cannot be backed up. Lose this browser's storage and you register new keys;
// files sealed to the old ones can no longer be opened.
import { get, set } from 'idb-keyval'
import type { KeyPair } from './types.ts'

export { makeKeyPairs, publicJwk } from './key-pairs.ts'

export interface StoredKeys {
  userId: string
  signing: KeyPair
  encryption: KeyPair
  signingKeyId: string
  encryptionKeyId: string
}

const slot = (userId: string) => `docs-mesh-keys:${userId}`

export const loadKeys = (userId: string) => get<StoredKeys>(slot(userId))
export const saveKeys = (keys: StoredKeys) => set(slot(keys.userId), keys)
