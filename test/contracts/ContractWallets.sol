// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Forwards every wei it receives to a fixed address in the same call, as deposit forwarders and payment
/// routers do: the recipient's ETH arrives by an internal transfer, never by a transaction of its own.
contract Forwarder {
    address payable public immutable target;

    constructor(address payable target_) {
        target = target_;
    }

    receive() external payable {
        (bool ok, ) = target.call{value: msg.value}("");
        require(ok, "forward failed");
    }
}

/// A Safe-like contract wallet: its owner has it call out, with value, as a multisig's `execTransaction` does.
contract OwnedWallet {
    address public immutable owner;

    constructor() payable {
        owner = msg.sender;
    }

    receive() external payable {}

    /// Calls `to` with `value` and `data`; a failed call fails the whole transaction.
    function execute(address to, uint256 value, bytes calldata data) external returns (bytes memory) {
        require(msg.sender == owner, "not owner");
        (bool ok, bytes memory result) = to.call{value: value}(data);
        require(ok, "call failed");
        return result;
    }

    /// Calls `to` with `value` and `data` and swallows a failure: the transaction succeeds whatever the call did.
    function tryExecute(address to, uint256 value, bytes calldata data) external returns (bool ok) {
        require(msg.sender == owner, "not owner");
        (ok, ) = to.call{value: value}(data);
    }
}

/// Pays `to` and then reverts: the payment happened in a frame whose caller undid it.
contract PaysThenReverts {
    function payThenRevert(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "pay failed");
        revert("undone");
    }
}

/// Holds ETH until it self-destructs in favour of a beneficiary, whose balance grows without any call.
contract Departing {
    constructor() payable {}

    function depart(address payable beneficiary) external {
        selfdestruct(beneficiary);
    }
}
