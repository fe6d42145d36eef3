// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A contract with neither `receive` nor `fallback`: a plain ETH transfer to it reverts.
contract RefusesEther {
    uint256 public touched;

    function touch() external {
        touched += 1;
    }
}

/// A contract that takes ETH: a transfer to a contract is fine when the contract accepts it.
contract AcceptsEther {
    receive() external payable {}
}

/// An ERC-20 that refuses transfers to addresses on its blocklist (as regulated stablecoins do).
contract BlockingToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => bool) public blocked;

    event Transfer(address indexed from, address indexed to, uint256 value);

    function mint(address to, uint256 value) external {
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function blockAddress(address who) external {
        blocked[who] = true;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(!blocked[to], "blocked recipient");
        require(balanceOf[msg.sender] >= value, "balance");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }
}
