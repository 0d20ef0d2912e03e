#!/usr/bin/env node
// Proves the interop merchant (merchant.mjs) against the official x402 client, and that its
// facilitator really verifies signatures: the official @x402/fetch client pays GET /paid and gets
// the content; replayed, tampered, wrongly signed and unfunded payments are refused by the
// official facilitator code and never settled.
//
//   node official_client_check.mjs
//
// Starts its own merchant (a child process) and stops it at the end. Exit 0 when every check
// holds, 1 otherwise (the merchant's log is printed on failure).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { getAddress, isAddressEqual, recoverTypedDataAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { authorizationTypes } from "@x402/evm";

const here = dirname(fileURLToPath(import.meta.url));
// The well-known first development key (Anvil/Hardhat account #0).
const CLIENT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const CLIENT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"; // account #1
const NETWORK = "eip155:84532";
const USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
const PAID_BODY = { paid: "content", item: "x402-interop" };
const FREE_BODY = { free: "content" };

let failures = 0;
function ok(name) {
  console.log(`ok - ${name}`);
}
function fail(name, detail) {
  failures += 1;
  console.log(`FAIL - ${name}${detail ? `: ${detail}` : ""}`);
}
function check(name, cond, detail) {
  if (cond) ok(name);
  else fail(name, detail);
  return cond;
}

// ---- merchant process -------------------------------------------------------------------------
const tmp = mkdtempSync(join(tmpdir(), "x402-official-check-"));
const portFile = join(tmp, "merchant.port");
const merchantLog = [];
const merchant = spawn(process.execPath, [join(here, "merchant.mjs"), portFile, "--fund", `${CLIENT_ADDRESS}=1000000`], {
  stdio: ["ignore", "inherit", "pipe"],
});
let partial = "";
merchant.stderr.setEncoding("utf8");
merchant.stderr.on("data", (chunk) => {
  partial += chunk;
  const lines = partial.split("\n");
  partial = lines.pop();
  merchantLog.push(...lines);
});
let merchantExited = false;
merchant.on("exit", () => {
  merchantExited = true;
});

function cleanup() {
  if (!merchantExited) merchant.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
}
process.on("exit", cleanup);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForPort() {
  for (let i = 0; i < 200; i++) {
    if (merchantExited) throw new Error("merchant exited during start-up");
    try {
      const p = readFileSync(portFile, "utf8").trim();
      if (p) return Number(p);
    } catch {
      // not written yet
    }
    await sleep(50);
  }
  throw new Error("merchant did not write its port within 10 s");
}

const facilitatorLines = (kind) => merchantLog.filter((l) => l.startsWith(`[facilitator] ${kind} `));
const payerIn = (line) => /payer=(0x[0-9a-fA-F]{40})/.exec(line)?.[1];

// The merchant logs before it answers, but its stderr may reach us a little later.
async function waitForLog(pred, ms = 3000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (merchantLog.some(pred)) return true;
    await sleep(20);
  }
  return merchantLog.some(pred);
}

// ---- checks -----------------------------------------------------------------------------------
async function main() {
  const port = await waitForPort();
  const base = `http://127.0.0.1:${port}`;

  // Free route: not priced.
  {
    const r = await fetch(`${base}/free`);
    const body = await r.json();
    check("GET /free answers 200 without payment", r.status === 200 && JSON.stringify(body) === JSON.stringify(FREE_BODY), `${r.status} ${JSON.stringify(body)}`);
  }

  // Unpaid request: a v2 challenge with the SDK's USDC defaults for Base Sepolia.
  let paymentRequired;
  {
    const r = await fetch(`${base}/paid`);
    const header = r.headers.get("payment-required");
    check("GET /paid without payment answers 402 with PAYMENT-REQUIRED", r.status === 402 && !!header, `status ${r.status}`);
    paymentRequired = decodePaymentRequiredHeader(header);
    const a = paymentRequired.accepts?.[0] ?? {};
    check(
      "challenge is x402 v2 exact on eip155:84532 in Base Sepolia USDC (EIP-712 domain USDC/2)",
      paymentRequired.x402Version === 2 &&
        a.scheme === "exact" &&
        a.network === NETWORK &&
        a.amount === "10000" &&
        isAddressEqual(a.asset, USDC) &&
        a.extra?.name === "USDC" &&
        a.extra?.version === "2",
      JSON.stringify(paymentRequired),
    );
  }

  // The official client pays.
  const account = privateKeyToAccount(CLIENT_KEY);
  check("client key maps to the expected address", account.address === CLIENT_ADDRESS, account.address);
  const client = new x402Client().register(NETWORK, new ExactEvmScheme(account));
  let sentSignature;
  const recordingFetch = async (request) => {
    const sig = request.headers.get("payment-signature");
    if (sig) sentSignature = sig;
    return fetch(request);
  };
  const payingFetch = wrapFetchWithPayment(recordingFetch, client);
  {
    const r = await payingFetch(`${base}/paid`);
    const text = await r.text();
    check("official client: GET /paid answers 200 after paying", r.status === 200, `status ${r.status} body ${text}`);
    check("official client: body is the paid content", text === JSON.stringify(PAID_BODY), text);
    const pr = r.headers.get("payment-response");
    const settle = pr ? decodePaymentResponseHeader(pr) : undefined;
    check(
      "official client: PAYMENT-RESPONSE reports a successful settlement by the client's address",
      settle?.success === true && isAddressEqual(settle.payer, CLIENT_ADDRESS) && /^0x[0-9a-f]{64}$/i.test(settle.transaction ?? ""),
      JSON.stringify(settle),
    );
    await waitForLog((l) => l.startsWith("[facilitator] settle "));
    const verifies = facilitatorLines("verify");
    const settles = facilitatorLines("settle");
    check(
      "facilitator verified exactly one payment, from the client's address",
      verifies.length === 1 && verifies[0].includes("verify ok") && payerIn(verifies[0]) === CLIENT_ADDRESS,
      JSON.stringify(verifies),
    );
    check(
      "facilitator settled exactly one payment, from the client's address",
      settles.length === 1 && settles[0].includes("settle ok") && payerIn(settles[0]) === CLIENT_ADDRESS,
      JSON.stringify(settles),
    );
    check(
      "stand-in chain moved 10000 from the client to the merchant",
      merchantLog.some((l) => l.startsWith("[chain] transferWithAuthorization") && l.includes(`from=${CLIENT_ADDRESS}`) && l.includes("value=10000")),
      "",
    );
  }

  // Refusals: each must be refused at verify with the given reason and never settled.
  async function expectRefused(name, header, reason) {
    const before = { verify: facilitatorLines("verify").length, settle: facilitatorLines("settle").length };
    const r = await fetch(`${base}/paid`, { headers: { "PAYMENT-SIGNATURE": header } });
    const body = await r.text();
    await waitForLog((l) => l.startsWith("[facilitator] verify ") && facilitatorLines("verify").length > before.verify);
    const newVerifies = facilitatorLines("verify").slice(before.verify);
    const refusedRight = newVerifies.length === 1 && newVerifies[0].includes("verify refused") && newVerifies[0].includes(`reason=${reason}`);
    const pr = r.headers.get("payment-required");
    const challengeError = pr ? decodePaymentRequiredHeader(pr).error : undefined;
    check(
      `${name}: refused by the facilitator with ${reason}, answered 402, not settled`,
      r.status === 402 &&
        body !== JSON.stringify(PAID_BODY) &&
        refusedRight &&
        facilitatorLines("settle").length === before.settle,
      `status ${r.status}, challenge error ${challengeError}, facilitator: ${JSON.stringify(newVerifies)}`,
    );
  }

  check("the successful payment's PAYMENT-SIGNATURE was captured", !!sentSignature);
  await expectRefused("replay of the settled payment", sentSignature, "invalid_exact_evm_nonce_already_used");

  const fresh = async (signerAccount, requirementsOverride) => {
    const c = new x402Client().register(NETWORK, new ExactEvmScheme(signerAccount));
    const pr = structuredClone(paymentRequired);
    if (requirementsOverride) requirementsOverride(pr.accepts[0]);
    const payload = await c.createPaymentPayload(pr);
    payload.accepted = structuredClone(paymentRequired.accepts[0]); // echo the real offer
    return payload;
  };

  {
    const p = await fresh(account);
    const sig = p.payload.signature;
    // Flip one bit in r: still a well-formed 65-byte signature, but over nothing the client signed.
    const flipped = (parseInt(sig[10], 16) ^ 1).toString(16);
    p.payload.signature = sig.slice(0, 10) + flipped + sig.slice(11);
    let recovered;
    try {
      recovered = await recoverTypedDataAddress({
        domain: { name: "USDC", version: "2", chainId: 84532, verifyingContract: USDC },
        types: authorizationTypes,
        primaryType: "TransferWithAuthorization",
        message: { ...p.payload.authorization, value: BigInt(p.payload.authorization.value), validAfter: BigInt(p.payload.authorization.validAfter), validBefore: BigInt(p.payload.authorization.validBefore) },
        signature: p.payload.signature,
      });
    } catch {
      recovered = "none";
    }
    check("tampered signature no longer recovers to the client", !recovered || recovered === "none" || !isAddressEqual(recovered, CLIENT_ADDRESS), recovered);
    await expectRefused("tampered signature (one bit of r flipped)", encodePaymentSignatureHeader(p), "invalid_exact_evm_signature");
  }
  {
    const p = await fresh(account);
    const n = p.payload.authorization.nonce;
    p.payload.authorization.nonce = n.slice(0, -1) + (n.endsWith("0") ? "1" : "0");
    await expectRefused("tampered authorization (nonce changed after signing)", encodePaymentSignatureHeader(p), "invalid_exact_evm_signature");
  }
  {
    const p = await fresh(account);
    p.payload.authorization.value = "1"; // would pay 1 instead of 10000 if only the signature were checked
    await expectRefused("tampered authorization (value changed after signing)", encodePaymentSignatureHeader(p), "invalid_exact_evm_signature");
  }
  {
    const p = await fresh(account, (req) => {
      req.extra = { ...req.extra, version: "1" };
    });
    await expectRefused("signature over the wrong EIP-712 domain (version 1)", encodePaymentSignatureHeader(p), "invalid_exact_evm_signature");
  }
  {
    const p = await fresh(privateKeyToAccount(OTHER_KEY));
    p.payload.authorization.from = CLIENT_ADDRESS; // someone else's signature claiming the client's funds
    await expectRefused("authorization signed by another key for the client's address", encodePaymentSignatureHeader(p), "invalid_exact_evm_signature");
  }
  {
    const p = await fresh(privateKeyToAccount(generatePrivateKey()));
    await expectRefused("valid signature from an unfunded account", encodePaymentSignatureHeader(p), "invalid_exact_evm_insufficient_balance");
  }

  // After all the refusals the merchant still takes a genuine payment.
  {
    const r = await payingFetch(`${base}/paid`);
    const text = await r.text();
    check("official client: a second genuine payment still succeeds", r.status === 200 && text === JSON.stringify(PAID_BODY), `status ${r.status} body ${text}`);
    await waitForLog((l) => l.startsWith("[facilitator] settle ") && facilitatorLines("settle").length >= 2);
    const settles = facilitatorLines("settle");
    check(
      "facilitator settled exactly two payments in total, both from the client",
      settles.length === 2 && settles.every((l) => l.includes("settle ok") && payerIn(l) === getAddress(CLIENT_ADDRESS)),
      JSON.stringify(settles),
    );
  }
}

try {
  await main();
} catch (e) {
  fail("check run", e?.stack ?? String(e));
}
if (failures > 0) {
  console.log(`\n${failures} check(s) failed; merchant log:\n${merchantLog.map((l) => `  ${l}`).join("\n")}`);
  process.exit(1);
}
console.log("official client check: all checks passed");
process.exit(0);
