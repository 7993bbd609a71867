export { type CallerPluginOptions, callerPlugin, principalOf, readPeer } from './caller-plugin.ts'
export { clientAddressOf, clientAddressPlugin } from './client-address.ts'
export {
  isSpiffeId,
  type PeerIdentity,
  parseXfcc,
  peerFromXfcc,
  type XfccElement,
  XfccError,
  type XfccKey,
} from './xfcc.ts'
