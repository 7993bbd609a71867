export { sessionPlugin } from './session-plugin.ts'
export {
  createSessionVerifier,
  type SessionVerifier,
  type SessionVerifierOptions,
  sha256Hex,
  type VerifiedSession,
} from './verify-session.ts'
