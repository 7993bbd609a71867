// The workspace root, found from this file, so the CLI works from any folder.
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
