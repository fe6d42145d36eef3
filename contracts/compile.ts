import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import solc from 'solc'

/** A compiled contract as the tests deploy it. */
export type CompiledContract = {
  abi: unknown
  bytecode: `0x${string}`
  /** The code the contract runs once deployed (what `eth_getCode` answers). */
  deployedBytecode: `0x${string}`
}

/**
 * Compiles one Solidity file with solc from npm (optimizer on, 200 runs) and answers each contract in it, or
 * throws solc's error messages.
 *
 * @example
 * const { TestToken } = compileSolidity(join(import.meta.dir, 'TestToken.sol')).contracts
 */
export function compileSolidity(path: string): {
  compiler: string
  contracts: Record<string, CompiledContract>
} {
  const file = basename(path)
  const input = {
    language: 'Solidity',
    sources: { [file]: { content: readFileSync(path, 'utf8') } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input)))
  const errors = (output.errors ?? []).filter((e: { severity: string }) => e.severity === 'error')
  if (errors.length > 0)
    throw new SolidityError(errors.map((e: { formattedMessage: string }) => e.formattedMessage).join('\n'))
  const found: Record<
    string,
    { abi: unknown; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }
  > = output.contracts[file]
  const contracts = Object.fromEntries(
    Object.entries(found).map(([name, c]) => [
      name,
      {
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}` as const,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}` as const,
      },
    ]),
  )
  return { compiler: `solc ${solc.version()}`, contracts }
}

/** solc refused the source; the message is its own. */
export class SolidityError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SolidityError'
  }
}
