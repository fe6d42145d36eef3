// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Pays many recipients in one transaction, in the chain's coin or in a token. Ownerless and stateless: it holds
/// nothing between calls, and a token batch spends from the caller through the allowance the caller gave it.
/// Any transfer that fails reverts the whole call (the sender simulates first and leaves refusers out).
contract BatchPayouts {
    error LengthMismatch();
    error WrongValue();
    error NotAContract();
    error TransferFailed(uint256 index);

    /// Sends amounts[i] wei to to[i]; msg.value must be their sum.
    function payNative(address[] calldata to, uint256[] calldata amounts) external payable {
        uint256 n = to.length;
        if (n != amounts.length) revert LengthMismatch();
        uint256 total;
        for (uint256 i; i < n; ++i) total += amounts[i];
        // checked before anything moves: a recipient calling back in cannot spend what the caller sent
        if (total != msg.value) revert WrongValue();
        for (uint256 i; i < n; ++i) {
            (bool ok, ) = to[i].call{value: amounts[i]}("");
            if (!ok) revert TransferFailed(i);
        }
    }

    /// Moves amounts[i] of `token` from the caller to to[i] with transferFrom (tokens that return nothing too).
    function payToken(address token, address[] calldata to, uint256[] calldata amounts) external {
        uint256 n = to.length;
        if (n != amounts.length) revert LengthMismatch();
        if (token.code.length == 0) revert NotAContract();
        for (uint256 i; i < n; ++i) {
            (bool ok, bytes memory ret) = token.call(
                abi.encodeWithSelector(0x23b872dd, msg.sender, to[i], amounts[i])
            );
            if (!ok || (ret.length != 0 && (ret.length < 32 || abi.decode(ret, (uint256)) == 0)))
                revert TransferFailed(i);
        }
    }
}
