import { join } from 'node:path'
import { getContractAddress, type Hex, keccak256, toBytes } from 'viem'
import { compileSolidity } from './compile.ts'

/** The standard deterministic deployment proxy (CREATE2 factory): on most chains, and predeployed on anvil. */
export const deploymentProxy = '0x4e59b44847b379578588920ca78fbf26c0b4956c'

/** The fixed CREATE2 salt: with the same bytecode, the contract has the same address on every chain. */
export const batchPayoutsSalt = keccak256(toBytes('tollgate.BatchPayouts.v1'))

/**
 * BatchPayouts.sol compiled afresh, as contracts/BatchPayouts.json and src/plugins/evm/batch-contract.ts hold it:
 * the ABI, the creation bytecode, the keccak-256 of the runtime code (what the gateway checks before using the
 * contract) and the address the deployment proxy puts it at.
 *
 * @example
 * const { address, runtimeCodeHash } = compileBatchPayouts()
 */
export function compileBatchPayouts() {
  const { compiler, contracts } = compileSolidity(join(import.meta.dir, 'BatchPayouts.sol'))
  const c = contracts.BatchPayouts!
  const address = getContractAddress({
    opcode: 'CREATE2',
    from: deploymentProxy,
    salt: toBytes(batchPayoutsSalt),
    bytecode: c.bytecode,
  })
  return {
    compiler,
    abi: c.abi,
    bytecode: c.bytecode,
    runtimeCodeHash: keccak256(c.deployedBytecode) as Hex,
    salt: batchPayoutsSalt,
    deploymentProxy,
    address,
  }
}
