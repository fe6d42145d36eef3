// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// An on-chain sanctions oracle with the ABI of the widely used public one (Chainalysis'
/// 0x40C57923924B5c5c5455c48D93317139ADDaC8fb on Ethereum and other EVM chains): anyone reads
/// `isSanctioned`, only the owner changes the list.
contract SanctionsOracle {
    address public owner;
    mapping(address => bool) private sanctioned;

    event SanctionedAddressesAdded(address[] addrs);
    event SanctionedAddressesRemoved(address[] addrs);

    error NotOwner(address caller);

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    function name() external pure returns (string memory) {
        return "Sanctions oracle";
    }

    function isSanctioned(address addr) external view returns (bool) {
        return sanctioned[addr];
    }

    function addToSanctionsList(address[] memory newSanctions) external onlyOwner {
        for (uint256 i = 0; i < newSanctions.length; i++) sanctioned[newSanctions[i]] = true;
        emit SanctionedAddressesAdded(newSanctions);
    }

    function removeFromSanctionsList(address[] memory removeSanctions) external onlyOwner {
        for (uint256 i = 0; i < removeSanctions.length; i++) sanctioned[removeSanctions[i]] = false;
        emit SanctionedAddressesRemoved(removeSanctions);
    }
}

/// A contract that is not an oracle but answers every call it has no function for with bytes the test
/// sets: how a misconfigured address (or a broken oracle) looks to a caller that trusts the ABI.
contract RawAnswer {
    bytes private answer;

    function setAnswer(bytes calldata raw) external {
        answer = raw;
    }

    fallback(bytes calldata) external returns (bytes memory) {
        return answer;
    }
}

/// A contract whose every call reverts with a reason: a read that the node runs and the contract refuses.
contract AlwaysReverts {
    fallback() external {
        revert("no reads here");
    }
}

/// EIP-3668's revert: "ask this URL, then call me back with its answer".
error OffchainLookup(address sender, string[] urls, bytes callData, bytes4 callbackFunction, bytes extraData);

/// An oracle that answers through CCIP-read (EIP-3668): its `isSanctioned` reverts with `OffchainLookup` naming
/// an HTTP server. A client following it would let that server decide the answer.
contract OffchainOracle {
    string[] private urls;

    constructor(string memory url) {
        urls.push(url);
    }

    function isSanctioned(address addr) external view returns (bool) {
        revert OffchainLookup(address(this), urls, abi.encode(addr), this.answerFromServer.selector, "");
    }

    function answerFromServer(bytes calldata response, bytes calldata) external pure returns (bool) {
        return abi.decode(response, (bool));
    }
}
