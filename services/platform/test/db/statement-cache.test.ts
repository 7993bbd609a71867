import SQLite from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { cachePreparedStatements } from '../../src/db/statement-cache.ts'

describe('the SQLite prepared statement cache', () => {
  const open = (max?: number) => {
    const db = cachePreparedStatements(new SQLite(':memory:'), max)
    db.exec('create table t (a integer)')
    return db
  }

  it('prepares the same SQL once and reuses the statement with new parameters', () => {
    const db = open()
    const insert = db.prepare('insert into t values (?)')
    expect(db.prepare('insert into t values (?)')).toBe(insert)
    insert.run(1)
    db.prepare('insert into t values (?)').run(2)
    expect(db.prepare('select a from t order by a').all()).toEqual([{ a: 1 }, { a: 2 }])
  })

  it('hands out a fresh statement while the cached one is still being iterated', () => {
    const db = open()
    db.prepare('insert into t values (?)').run(1)
    db.prepare('insert into t values (?)').run(2)
    const sql = 'select a from t order by a'
    const seen: number[] = []
    for (const row of db.prepare(sql).iterate() as Iterable<{ a: number }>) {
      // The same query again inside the loop: a busy statement must not be reused.
      seen.push(row.a, (db.prepare(sql).all() as Array<{ a: number }>).length)
    }
    expect(seen).toEqual([1, 2, 2, 2])
  })

  it('keeps at most its bound', () => {
    const db = open(2)
    const first = db.prepare('select 1')
    db.prepare('select 2')
    db.prepare('select 3')
    expect(db.prepare('select 1')).not.toBe(first)
  })
})
