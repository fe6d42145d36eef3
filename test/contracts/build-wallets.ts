// Compiles ContractWallets.sol (a forwarder, a Safe-like owned wallet, a contract that pays then reverts and one
// that self-destructs) with solc from npm and writes each contract's ABI and bytecode to ContractWallets.json.
// Run after changing the source: bun test/contracts/build-wallets.ts
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { compileSolidity } from '../../contracts/compile.ts'

const { compiler, contracts } = compileSolidity(join(import.meta.dir, 'ContractWallets.sol'))
writeFileSync(
  join(import.meta.dir, 'ContractWallets.json'),
  `${JSON.stringify({ compiler, contracts }, null, 2)}\n`,
)
console.log('wrote ContractWallets.json')
