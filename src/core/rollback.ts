import type { Db, Tx } from '../db/client.ts'

/** What `rollback` throws: a transaction giving up on purpose, not an error. */
const gaveUp = Symbol('rolled back on purpose')

/**
 * Runs `work` in a database transaction that may give up on purpose: calling `rollback()` undoes everything it
 * wrote (a nonce or change-address counter taken along the way included) and the call answers `undefined`.
 * Any other failure propagates as usual.
 *
 * @example
 * const id = await transactionUnlessRolledBack(db, async (tx, rollback) => (tooExpensive ? rollback() : store(tx)))
 */
export async function transactionUnlessRolledBack<T>(
  db: Db,
  work: (tx: Tx, rollback: () => never) => Promise<T>,
): Promise<T | undefined> {
  const rollback = (): never => {
    throw gaveUp
  }
  return db
    .transaction((tx) => work(tx, rollback))
    .catch((err) => {
      if (err === gaveUp) return undefined
      throw err
    })
}
