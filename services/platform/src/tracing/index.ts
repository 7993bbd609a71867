export { childTraceparent, continueTrace, parseTraceparent, type TraceContext } from './trace-context.ts'
