export {
  type AttestedFields,
  KEY_ATTESTATION_TYPE,
  keyAttestationDigest,
  keyAttestationStatement,
} from './attestation.ts'
