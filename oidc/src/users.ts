// The local provider's people. Development and test only: their passwords
// are in this file on purpose, so anyone can sign in as them. identity-api
// decides who is an admin (carol, through its admin e-mail list).
import { timingSafeEqual } from 'node:crypto'

export interface LocalUser {
  sub: string
  username: string
  password: string
  email: string
  name: string
  /** What the provider says in `email_verified`; true unless a test says otherwise. */
  emailVerified?: boolean
}

export const SEEDED_USERS: readonly LocalUser[] = [
  {
    sub: 'alice',
    username: 'alice',
    password: 'alice-local-password',
    email: 'alice@docs-mesh.localhost',
    name: 'Alice Example',
  },
  {
    sub: 'bob',
    username: 'bob',
    password: 'bob-local-password',
    email: 'bob@docs-mesh.localhost',
    name: 'Bob Example',
  },
  {
    sub: 'carol',
    username: 'carol',
    password: 'carol-local-password',
    email: 'carol@docs-mesh.localhost',
    name: 'Carol Admin',
  },
]

const same = (a: string, b: string) => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** The user with this username and password, or null. */
export function authenticate(
  users: readonly LocalUser[],
  username: string,
  password: string,
): LocalUser | null {
  const user = users.find((u) => u.username === username)
  return user && same(user.password, password) ? user : null
}
