// Compiles Refusers.sol (test contracts that refuse what they are sent) with solc from npm and writes each
// contract's ABI and bytecode to Refusers.json. Run after changing the source: bun test/contracts/build.ts
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { compileSolidity } from '../../contracts/compile.ts'

const { compiler, contracts } = compileSolidity(join(import.meta.dir, 'Refusers.sol'))
writeFileSync(join(import.meta.dir, 'Refusers.json'), `${JSON.stringify({ compiler, contracts }, null, 2)}\n`)
console.log('wrote Refusers.json')
