// Senders' and recipients' names for bucket views, read from identity-api's
// users table (bucket-api reads the identity group).
import type { DatabaseHandle } from '@docs-mesh/platform'
import type { Party } from './views.ts'

export async function partiesOf(handle: DatabaseHandle, ids: string[]): Promise<Map<string, Party>> {
  const unique = [...new Set(ids)]
  if (unique.length === 0) return new Map()
  const rows = await handle.db
    .selectFrom('users')
    .select(['id', 'display_name', 'email'])
    .where('id', 'in', unique)
    .execute()
  const found = new Map(rows.map((r) => [r.id, r]))
  return new Map(unique.map((id) => [id, found.get(id) ?? { id, display_name: 'unknown user', email: '' }]))
}
