export { KeyEncryptionError, open, parseKeyEncryptionKey, seal } from './seal.ts'
