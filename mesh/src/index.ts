// The local mesh as a library: manifests, policy engine, CA, sidecars, gateway.
export * from './authz/index.ts'
export * from './ca/index.ts'
export { type CurlRequest, type CurlResult, meshCurl, rawTarget } from './client/mesh-curl.ts'
export { type LintFinding, lintModel, lintObjects } from './lint/lint-manifests.ts'
export * from './manifests/index.ts'
export { type LocalMesh, type MeshState, startLocalMesh } from './runtime/local-mesh.ts'
export { type RunningSystem, type SystemOptions, startSystem } from './runtime/system.ts'
