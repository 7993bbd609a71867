// A mistake in how the CLI was called or in its input: exit 2 with a message.
export class UsageError extends Error {
  readonly code = 'ERR_MESH_USAGE'
}
