// Compiles TestToken.sol with solc from npm and writes its ABI and bytecode next to it.
// Run after changing the source: bun contracts/build.ts
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { compileSolidity } from './compile.ts'

const { compiler, contracts } = compileSolidity(join(import.meta.dir, 'TestToken.sol'))
const token = contracts.TestToken!
writeFileSync(
  join(import.meta.dir, 'TestToken.json'),
  `${JSON.stringify({ compiler, abi: token.abi, bytecode: token.bytecode }, null, 2)}\n`,
)
console.log('wrote TestToken.json')
