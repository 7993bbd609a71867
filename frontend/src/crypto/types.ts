// WebCrypto's key types by what the functions take, so this code type-checks
// under the DOM's lib (the app) and under Node's alone (the tests and tools
// that play the browser with it).
export type Key = Parameters<typeof crypto.subtle.sign>[1]
export interface KeyPair {
  publicKey: Key
  privateKey: Key
}
