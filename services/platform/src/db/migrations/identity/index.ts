import type { Migration } from 'kysely/migration'
import * as m0001 from './0001_users_sessions.ts'

export const identityMigrations: Record<string, Migration> = {
  '0001_users_sessions': m0001,
}
