export { CertificateAuthority, type IssuedCertificate } from './certificate-authority.ts'
export { principalOf, SvidError, spiffeIdFor, spiffeIdOf } from './spiffe-peer.ts'
export { type SvidSource, startSvidRotation } from './svid-rotation.ts'
