// In-memory stand-in for the parts of Base Sepolia the x402 "exact" EVM facilitator touches:
// the USDC contract (FiatToken v2 semantics for EIP-3009), Multicall3's tryAggregate (used by the
// facilitator's failure diagnosis), eth_getCode, transaction receipts with event logs.
//
// Only chain access is simulated here. The facilitator's own signature check (official
// @x402/evm code) runs unchanged; on top of that, this token model recovers the EIP-712 signer
// itself (viem's recoverTypedDataAddress, over the token's own domain) exactly as the contract
// would, so a payment whose signature does not match `from` can be neither simulated nor settled.
import {
  concat,
  decodeFunctionData,
  encodeAbiParameters,
  encodeEventTopics,
  encodeFunctionResult,
  getAddress,
  isAddressEqual,
  keccak256,
  numberToHex,
  recoverTypedDataAddress,
  toHex,
  verifyTypedData,
} from "viem";

export const NETWORK = "eip155:84532"; // Base Sepolia
export const CHAIN_ID = 84532;
export const USDC_ADDRESS = getAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e");
export const MULTICALL3_ADDRESS = getAddress("0xcA11bde05977b3631167028862bE2a173976CA11");
// The facilitator's own account: the one that would submit transferWithAuthorization.
export const FACILITATOR_ADDRESS = getAddress("0x90F79bf6EB2c4f870365E785982E1f101E93b906");

const ZERO = "0x0000000000000000000000000000000000000000";
// FiatToken's ECRecover library refuses s above half the curve order (malleable signatures).
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

export const TOKEN_ABI = [
  { type: "function", name: "name", stateMutability: "view", inputs: [], outputs: [{ type: "string" }] },
  { type: "function", name: "version", stateMutability: "view", inputs: [], outputs: [{ type: "string" }] },
  { type: "function", name: "decimals", stateMutability: "view", inputs: [], outputs: [{ type: "uint8" }] },
  {
    type: "function",
    name: "balanceOf",
    stateMutability: "view",
    inputs: [{ name: "account", type: "address" }],
    outputs: [{ type: "uint256" }],
  },
  {
    type: "function",
    name: "authorizationState",
    stateMutability: "view",
    inputs: [
      { name: "authorizer", type: "address" },
      { name: "nonce", type: "bytes32" },
    ],
    outputs: [{ type: "bool" }],
  },
  {
    type: "function",
    name: "transferWithAuthorization",
    stateMutability: "nonpayable",
    inputs: [
      { name: "from", type: "address" },
      { name: "to", type: "address" },
      { name: "value", type: "uint256" },
      { name: "validAfter", type: "uint256" },
      { name: "validBefore", type: "uint256" },
      { name: "nonce", type: "bytes32" },
      { name: "v", type: "uint8" },
      { name: "r", type: "bytes32" },
      { name: "s", type: "bytes32" },
    ],
    outputs: [],
  },
  {
    type: "function",
    name: "transferWithAuthorization",
    stateMutability: "nonpayable",
    inputs: [
      { name: "from", type: "address" },
      { name: "to", type: "address" },
      { name: "value", type: "uint256" },
      { name: "validAfter", type: "uint256" },
      { name: "validBefore", type: "uint256" },
      { name: "nonce", type: "bytes32" },
      { name: "signature", type: "bytes" },
    ],
    outputs: [],
  },
  {
    type: "event",
    name: "Transfer",
    inputs: [
      { name: "from", type: "address", indexed: true },
      { name: "to", type: "address", indexed: true },
      { name: "value", type: "uint256", indexed: false },
    ],
  },
  {
    type: "event",
    name: "AuthorizationUsed",
    inputs: [
      { name: "authorizer", type: "address", indexed: true },
      { name: "nonce", type: "bytes32", indexed: true },
    ],
  },
];

const TRANSFER_WITH_AUTHORIZATION_TYPES = {
  TransferWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
};

const MULTICALL3_ABI = [
  {
    type: "function",
    name: "tryAggregate",
    stateMutability: "payable",
    inputs: [
      { name: "requireSuccess", type: "bool" },
      {
        name: "calls",
        type: "tuple[]",
        components: [
          { name: "target", type: "address" },
          { name: "callData", type: "bytes" },
        ],
      },
    ],
    outputs: [
      {
        name: "returnData",
        type: "tuple[]",
        components: [
          { name: "success", type: "bool" },
          { name: "returnData", type: "bytes" },
        ],
      },
    ],
  },
];

// Placeholder runtime code: only its non-emptiness matters (the facilitator checks that the asset
// is a contract, and that the payer is not one).
const CONTRACT_CODE = "0x6080604052600436106100295760003560e01c";

class Revert extends Error {
  constructor(reason) {
    super(`execution reverted: ${reason}`);
    this.reason = reason;
  }
}

function log(line) {
  process.stderr.write(`[chain] ${line}\n`);
}

// ABI-encoded Error(string), as a reverting contract call returns it.
function revertData(reason) {
  return concat(["0x08c379a0", encodeAbiParameters([{ type: "string" }], [reason])]);
}

export function createChain({ now = () => Math.floor(Date.now() / 1000) } = {}) {
  const balances = new Map(); // checksummed address -> bigint (atomic USDC)
  const usedAuthorizations = new Set(); // `${authorizer}/${nonce}` (nonce lowercase hex)
  const receipts = new Map(); // tx hash -> receipt
  let blockNumber = 1n;
  let txCount = 0;

  const balanceOf = (a) => balances.get(getAddress(a)) ?? 0n;
  const authKey = (authorizer, nonce) => `${getAddress(authorizer)}/${String(nonce).toLowerCase()}`;

  // transferWithAuthorization as FiatToken v2.2 runs it. Returns the logs it would emit; when
  // `commit` is false (eth_call) nothing changes.
  async function transferWithAuthorization(args, commit) {
    let from, to, value, validAfter, validBefore, nonce, signature;
    if (args.length === 9) {
      let v, r, s;
      [from, to, value, validAfter, validBefore, nonce, v, r, s] = args;
      v = Number(v);
      if (BigInt(s) > SECP256K1_HALF_N) throw new Revert("ECRecover: invalid signature 's' value");
      if (v !== 27 && v !== 28) throw new Revert("ECRecover: invalid signature 'v' value");
      signature = concat([r, s, numberToHex(v, { size: 1 })]);
    } else if (args.length === 7) {
      [from, to, value, validAfter, validBefore, nonce, signature] = args;
      if ((signature.length - 2) / 2 !== 65) throw new Revert("FiatTokenV2: invalid signature");
    } else {
      throw new Revert("transferWithAuthorization: bad arguments");
    }
    from = getAddress(from);
    to = getAddress(to);
    value = BigInt(value);
    const t = BigInt(now());
    if (!(t > BigInt(validAfter))) throw new Revert("FiatTokenV2: authorization is not yet valid");
    if (!(t < BigInt(validBefore))) throw new Revert("FiatTokenV2: authorization is expired");
    if (usedAuthorizations.has(authKey(from, nonce))) {
      throw new Revert("FiatTokenV2: authorization is used or canceled");
    }
    let signer;
    try {
      signer = await recoverTypedDataAddress({
        domain: { name: "USDC", version: "2", chainId: CHAIN_ID, verifyingContract: USDC_ADDRESS },
        types: TRANSFER_WITH_AUTHORIZATION_TYPES,
        primaryType: "TransferWithAuthorization",
        message: { from, to, value, validAfter: BigInt(validAfter), validBefore: BigInt(validBefore), nonce },
        signature,
      });
    } catch {
      throw new Revert("FiatTokenV2: invalid signature");
    }
    if (!isAddressEqual(signer, from)) throw new Revert("FiatTokenV2: invalid signature");
    if (isAddressEqual(to, ZERO)) throw new Revert("ERC20: transfer to the zero address");
    if (balanceOf(from) < value) throw new Revert("ERC20: transfer amount exceeds balance");

    if (commit) {
      usedAuthorizations.add(authKey(from, nonce));
      balances.set(from, balanceOf(from) - value);
      balances.set(to, balanceOf(to) + value);
    }
    return [
      {
        address: USDC_ADDRESS,
        topics: encodeEventTopics({ abi: TOKEN_ABI, eventName: "AuthorizationUsed", args: { authorizer: from, nonce } }),
        data: "0x",
      },
      {
        address: USDC_ADDRESS,
        topics: encodeEventTopics({ abi: TOKEN_ABI, eventName: "Transfer", args: { from, to } }),
        data: encodeAbiParameters([{ type: "uint256" }], [value]),
      },
    ];
  }

  // A call to the token. Returns the decoded result; throws Revert.
  async function callToken(functionName, args = [], commit = false) {
    switch (functionName) {
      case "name":
        return "USDC";
      case "version":
        return "2";
      case "decimals":
        return 6;
      case "balanceOf":
        return balanceOf(args[0]);
      case "authorizationState":
        return usedAuthorizations.has(authKey(args[0], args[1]));
      case "transferWithAuthorization":
        return transferWithAuthorization(args, commit);
      default:
        throw new Revert(`function ${functionName} is not part of the stand-in token`);
    }
  }

  async function tryAggregate(calls) {
    const out = [];
    for (const { target, callData } of calls) {
      if (!isAddressEqual(target, USDC_ADDRESS)) {
        out.push({ success: false, returnData: "0x" });
        continue;
      }
      try {
        const { functionName, args } = decodeFunctionData({ abi: TOKEN_ABI, data: callData });
        const result = await callToken(functionName, args ?? [], false);
        const returnData =
          functionName === "transferWithAuthorization"
            ? "0x"
            : encodeFunctionResult({ abi: TOKEN_ABI, functionName, result });
        out.push({ success: true, returnData });
      } catch (e) {
        out.push({ success: false, returnData: e instanceof Revert ? revertData(e.reason) : "0x" });
      }
    }
    return out;
  }

  // The FacilitatorEvmSigner surface (before toFacilitatorEvmSigner adds getAddresses).
  const signerClient = {
    address: FACILITATOR_ADDRESS,

    async getCode({ address }) {
      if (isAddressEqual(address, USDC_ADDRESS) || isAddressEqual(address, MULTICALL3_ADDRESS)) {
        return CONTRACT_CODE;
      }
      return undefined; // every other account is an EOA, as viem reports empty code
    },

    async readContract({ address, functionName, args = [] }) {
      if (isAddressEqual(address, MULTICALL3_ADDRESS) && functionName === "tryAggregate") {
        return tryAggregate(args[1]);
      }
      if (!isAddressEqual(address, USDC_ADDRESS)) {
        throw new Error(`eth_call to ${address}: no contract there in the stand-in chain`);
      }
      try {
        const result = await callToken(functionName, args, false);
        return functionName === "transferWithAuthorization" ? undefined : result;
      } catch (e) {
        if (e instanceof Revert) {
          throw new Error(`The contract function "${functionName}" reverted with the following reason:\n${e.reason}`);
        }
        throw e;
      }
    },

    // viem's own EIP-712 verification (pure ECDSA recovery for an EOA).
    async verifyTypedData(args) {
      const ok = await verifyTypedData(args);
      log(`verifyTypedData address=${args.address} result=${ok}`);
      return ok;
    },

    async writeContract({ address, functionName, args }) {
      if (!isAddressEqual(address, USDC_ADDRESS) || functionName !== "transferWithAuthorization") {
        throw new Error(`writeContract ${functionName} on ${address}: not supported by the stand-in chain`);
      }
      let logs;
      try {
        // Gas estimation runs the call first: a reverting transfer is never broadcast.
        await callToken(functionName, args, false);
        logs = await callToken(functionName, args, true);
      } catch (e) {
        if (e instanceof Revert) {
          log(`transferWithAuthorization reverted: ${e.reason}`);
          throw new Error(`The contract function "${functionName}" reverted with the following reason:\n${e.reason}`);
        }
        throw e;
      }
      txCount += 1;
      blockNumber += 1n;
      const hash = keccak256(concat([toHex(txCount, { size: 32 }), toHex(JSON.stringify(args, (_, v) => (typeof v === "bigint" ? v.toString() : v)))]));
      receipts.set(hash, {
        status: "success",
        transactionHash: hash,
        blockNumber,
        from: FACILITATOR_ADDRESS,
        to: USDC_ADDRESS,
        logs: logs.map((l, i) => ({ ...l, blockNumber, transactionHash: hash, logIndex: i, removed: false })),
      });
      const [from, to, value] = args;
      log(
        `transferWithAuthorization from=${getAddress(from)} to=${getAddress(to)} value=${value} tx=${hash} ` +
          `balances: from=${balanceOf(from)} to=${balanceOf(to)}`,
      );
      return hash;
    },

    async sendTransaction({ to }) {
      // Only used to deploy counterfactual (ERC-6492) smart wallets, which this test does not do.
      throw new Error(`sendTransaction to ${to}: not supported by the stand-in chain`);
    },

    async waitForTransactionReceipt({ hash }) {
      const receipt = receipts.get(hash);
      if (!receipt) throw new Error(`Transaction receipt with hash "${hash}" could not be found.`);
      return receipt;
    },
  };

  return {
    signerClient,
    fund(address, amount) {
      const a = getAddress(address);
      balances.set(a, balanceOf(a) + BigInt(amount));
      log(`funded ${a} with ${amount} (balance ${balanceOf(a)})`);
    },
    balanceOf,
    isAuthorizationUsed: (authorizer, nonce) => usedAuthorizations.has(authKey(authorizer, nonce)),
    transferCount: () => txCount,
  };
}
