export {
  CSRF_COOKIE,
  CSRF_HEADER,
  clearSessionCookies,
  SESSION_COOKIE,
  SIGN_IN_COOKIE,
  SIGN_IN_COOKIE_PATH,
  setSessionCookies,
} from './cookies.ts'
export { sessionPlugin } from './session-plugin.ts'
export {
  createSessionVerifier,
  type SessionVerifier,
  type SessionVerifierOptions,
  sha256Hex,
  type VerifiedSession,
} from './verify-session.ts'
