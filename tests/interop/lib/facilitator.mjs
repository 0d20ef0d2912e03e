// The official x402 facilitator (x402Facilitator from @x402/core with the "exact" EVM scheme from
// @x402/evm), backed by the in-memory chain, served over HTTP on loopback with the facilitator
// API (POST /verify, POST /settle, GET /supported) so the merchant reaches it through the SDK's
// stock HTTPFacilitatorClient, as a production merchant would.
import express from "express";
import { getAddress } from "viem";
import { x402Facilitator } from "@x402/core/facilitator";
import { ExactEvmScheme } from "@x402/evm/exact/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { NETWORK } from "./chain.mjs";

function log(line) {
  process.stderr.write(`[facilitator] ${line}\n`);
}

function payerOf(paymentPayload, result) {
  const p = result?.payer ?? paymentPayload?.payload?.authorization?.from;
  try {
    return getAddress(p);
  } catch {
    return String(p);
  }
}

export function createFacilitator(chain) {
  const signer = toFacilitatorEvmSigner(chain.signerClient, { confirmationTimeoutMs: 10_000 });
  return new x402Facilitator().register(NETWORK, new ExactEvmScheme(signer));
}

// Starts the HTTP facilitator on 127.0.0.1:0; resolves to { url, close }.
export function serveFacilitator(facilitator) {
  const app = express();
  app.use(express.json({ limit: "1mb" }));

  app.get("/supported", (_req, res) => {
    res.json(facilitator.getSupported());
  });

  app.post("/verify", async (req, res) => {
    const { paymentPayload, paymentRequirements } = req.body ?? {};
    try {
      const result = await facilitator.verify(paymentPayload, paymentRequirements);
      if (result.isValid) {
        log(
          `verify ok payer=${payerOf(paymentPayload, result)} amount=${paymentRequirements?.amount} ` +
            `network=${paymentRequirements?.network} payTo=${paymentRequirements?.payTo}`,
        );
      } else {
        log(
          `verify refused payer=${payerOf(paymentPayload, result)} reason=${result.invalidReason}` +
            (result.invalidMessage ? ` message=${JSON.stringify(result.invalidMessage)}` : ""),
        );
      }
      res.json(result);
    } catch (e) {
      log(`verify error payer=${payerOf(paymentPayload)} error=${JSON.stringify(String(e?.message ?? e))}`);
      res.status(500).json({ error: String(e?.message ?? e) });
    }
  });

  app.post("/settle", async (req, res) => {
    const { paymentPayload, paymentRequirements } = req.body ?? {};
    try {
      const result = await facilitator.settle(paymentPayload, paymentRequirements);
      if (result.success) {
        log(
          `settle ok payer=${payerOf(paymentPayload, result)} amount=${paymentRequirements?.amount} ` +
            `network=${result.network} tx=${result.transaction}`,
        );
      } else {
        log(
          `settle failed payer=${payerOf(paymentPayload, result)} reason=${result.errorReason}` +
            (result.errorMessage ? ` message=${JSON.stringify(result.errorMessage)}` : ""),
        );
      }
      res.json(result);
    } catch (e) {
      log(`settle error payer=${payerOf(paymentPayload)} error=${JSON.stringify(String(e?.message ?? e))}`);
      res.status(500).json({ error: String(e?.message ?? e) });
    }
  });

  return new Promise((resolve, reject) => {
    const server = app.listen(0, "127.0.0.1");
    server.once("error", reject);
    server.once("listening", () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}
