// The browser's cryptography, importable by tests and tools that play the
// browser (bucket-api's tests, the benchmark): the very code the app runs.
export { fromBase64url, fromHex, toBase64url, toHex } from './encoding.ts'
export { type Envelope, OpenError, openFile, type Sealed, sealFile } from './envelope.ts'
export { type AllowedType, MAX_FILE_BYTES, TYPES, typeProblem } from './file-checks.ts'
export { makeKeyPairs, publicJwk } from './key-pairs.ts'
export {
  type AttestedKey,
  checkRecipientKey,
  checkSignerIsSender,
  fingerprint,
  KeyTrustError,
  type Verify,
  type VerifyAnswer,
} from './key-trust.ts'
export type { Key, KeyPair } from './types.ts'
