export {
  createUpstreamClient,
  type UpstreamCall,
  type UpstreamClient,
  type UpstreamClientOptions,
  type UpstreamResponse,
} from './upstream-client.ts'
