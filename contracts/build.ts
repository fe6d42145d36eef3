// Compiles TestToken.sol and BatchPayouts.sol with solc from npm and writes their ABI and bytecode next to them
// (BatchPayouts also as src/plugins/evm/batch-contract.ts, which the EVM driver reads).
// Run after changing the source: bun contracts/build.ts
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { compileBatchPayouts } from './BatchPayouts.ts'
import { compileSolidity } from './compile.ts'

const { compiler, contracts } = compileSolidity(join(import.meta.dir, 'TestToken.sol'))
const token = contracts.TestToken!
writeFileSync(
  join(import.meta.dir, 'TestToken.json'),
  `${JSON.stringify({ compiler, abi: token.abi, bytecode: token.bytecode }, null, 2)}\n`,
)
console.log('wrote TestToken.json')

const batch = compileBatchPayouts()
writeFileSync(join(import.meta.dir, 'BatchPayouts.json'), `${JSON.stringify(batch, null, 2)}\n`)
writeFileSync(
  join(import.meta.dir, '..', 'src', 'plugins', 'evm', 'batch-contract.ts'),
  `// Written by contracts/build.ts from contracts/BatchPayouts.sol: do not edit.\n` +
    `/** The BatchPayouts contract as compiled (${batch.compiler}), deployed by CREATE2 at the same address everywhere. */\n` +
    `export const batchContract = ${JSON.stringify(
      {
        address: batch.address,
        runtimeCodeHash: batch.runtimeCodeHash,
        salt: batch.salt,
        deploymentProxy: batch.deploymentProxy,
        bytecode: batch.bytecode,
      },
      null,
      2,
    )} as const\n`,
)
console.log('wrote BatchPayouts.json and src/plugins/evm/batch-contract.ts')
