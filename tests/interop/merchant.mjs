#!/usr/bin/env node
// A merchant built with the official x402 SDK: Express + paymentMiddleware from @x402/express,
// x402ResourceServer with the "exact" EVM server scheme, talking through the stock
// HTTPFacilitatorClient to the official facilitator (lib/facilitator.mjs) on loopback.
//
//   node merchant.mjs PORT_FILE [--fund ADDRESS[=ATOMIC]]... [--pay-to ADDRESS]
//                     [--tls-cert FILE --tls-key FILE]
//
// Listens on 127.0.0.1 (ephemeral port) and writes the port to PORT_FILE once ready: plain HTTP,
// or HTTPS (node's https.createServer around the same Express app) when given a PEM certificate
// and key. The facilitator stays on plain HTTP on loopback: only the merchant talks to it.
//   GET /paid  priced at $0.01 in USDC on Base Sepolia (eip155:84532), v2 challenge, declaring
//              the payment-identifier extension (optional); a credential that carries an id has
//              it checked by the SDK's own validator and logged ("[merchant] payment-identifier
//              ok id=..."), a malformed one is refused with 400
//   GET /free  not priced
// Logs to stderr: [merchant] requests, [facilitator] every verify/settle with payer and result,
// [chain] balance changes of the stand-in chain.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { parseArgs } from "node:util";
import express from "express";
import { getAddress } from "viem";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import {
  PAYMENT_IDENTIFIER,
  declarePaymentIdentifierExtension,
  extractAndValidatePaymentIdentifier,
  hasPaymentIdentifier,
} from "@x402/extensions/payment-identifier";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { NETWORK, createChain } from "./lib/chain.mjs";
import { createFacilitator, serveFacilitator } from "./lib/facilitator.mjs";

const PRICE = "$0.01";
const PAID_BODY = { paid: "content", item: "x402-interop" };
const FREE_BODY = { free: "content" };
// Anvil's second development account; it only receives.
const DEFAULT_PAY_TO = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const DEFAULT_FUNDING = 10_000_000n; // 10 USDC

function log(line) {
  process.stderr.write(`[merchant] ${line}\n`);
}

function usage(msg) {
  process.stderr.write(`merchant.mjs: ${msg}\nusage: node merchant.mjs PORT_FILE [--fund ADDRESS[=ATOMIC]]... [--pay-to ADDRESS] [--tls-cert FILE --tls-key FILE]\n`);
  process.exit(2);
}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        fund: { type: "string", multiple: true },
        "pay-to": { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
      },
    });
  } catch (e) {
    return usage(e.message);
  }
})();
if (positionals.length !== 1) usage("exactly one PORT_FILE expected");
const portFile = positionals[0];
const payTo = getAddress(values["pay-to"] ?? DEFAULT_PAY_TO);
if (Boolean(values["tls-cert"]) !== Boolean(values["tls-key"])) usage("--tls-cert and --tls-key go together");

// The TLS identity, read before anything starts so a bad file stops the merchant at once.
function readTlsIdentity() {
  if (!values["tls-cert"]) return null;
  try {
    return { cert: readFileSync(values["tls-cert"]), key: readFileSync(values["tls-key"]) };
  } catch (e) {
    return usage(`cannot read the TLS certificate or key: ${e.message}`);
  }
}
const tls = readTlsIdentity();

const chain = createChain();
for (const spec of values.fund ?? []) {
  const [address, amount] = spec.split("=");
  try {
    chain.fund(address, amount ? BigInt(amount) : DEFAULT_FUNDING);
  } catch (e) {
    usage(`--fund ${spec}: ${e.message}`);
  }
}

const facilitatorServer = await serveFacilitator(createFacilitator(chain));
log(`facilitator on ${facilitatorServer.url}`);

const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: facilitatorServer.url })).register(
  NETWORK,
  new ExactEvmScheme(),
);
// Fetch /supported now, so a facilitator problem shows at start rather than on the first request.
await resourceServer.initialize();

const app = express();
app.use((req, res, next) => {
  const paid = req.get("payment-signature") ? " payment-signature=present" : "";
  const legacy = req.get("x-payment") ? " x-payment=present" : "";
  res.on("finish", () => log(`${req.method} ${req.originalUrl} -> ${res.statusCode}${paid}${legacy}`));
  next();
});
// The payment-identifier of a credential, checked by the SDK's validator before the payment
// middleware: a malformed one is refused with 400, as the extension's spec says.
app.use("/paid", (req, res, next) => {
  const header = req.get("payment-signature");
  if (!header) return next();
  let payload;
  try {
    payload = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
  } catch {
    return next();
  }
  // The extension is optional here: echoed without an id (as the SDK's own client does unless
  // told to add one) or not echoed at all, the payment goes on.
  const { id, validation } = hasPaymentIdentifier(payload)
    ? extractAndValidatePaymentIdentifier(payload)
    : { id: null, validation: { valid: true } };
  if (!validation.valid) {
    log(`payment-identifier refused: ${(validation.errors ?? []).join("; ")}`);
    return res.status(400).json({ error: validation.errors ?? [] });
  }
  log(id ? `payment-identifier ok id=${id}` : "payment-identifier absent");
  return next();
});
app.use(
  paymentMiddleware(
    {
      "GET /paid": {
        accepts: { scheme: "exact", price: PRICE, network: NETWORK, payTo },
        description: "402flow interop paid content",
        mimeType: "application/json",
        extensions: { [PAYMENT_IDENTIFIER]: declarePaymentIdentifierExtension(false) },
      },
    },
    resourceServer,
  ),
);
app.get("/paid", (_req, res) => res.json(PAID_BODY));
app.get("/free", (_req, res) => res.json(FREE_BODY));

// Plain HTTP as app.listen does it, or HTTPS around the same app.
function listen() {
  if (!tls) return app.listen(0, "127.0.0.1");
  let https;
  try {
    https = createHttpsServer(tls, app);
  } catch (e) {
    return usage(`--tls-cert/--tls-key: ${e.message}`);
  }
  https.on("tlsClientError", (e) => log(`TLS handshake failed: ${e.message}`));
  return https.listen(0, "127.0.0.1");
}
const scheme = tls ? "https" : "http";
const server = listen();
server.once("error", (e) => {
  log(`listen failed: ${e.message}`);
  process.exit(1);
});
server.once("listening", () => {
  const { port } = server.address();
  writeFileSync(`${portFile}.tmp`, `${port}\n`);
  renameSync(`${portFile}.tmp`, portFile);
  log(`listening on ${scheme}://127.0.0.1:${port} payTo=${payTo} price=${PRICE} network=${NETWORK}`);
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    server.close();
    facilitatorServer.close();
    process.exit(0);
  });
}
