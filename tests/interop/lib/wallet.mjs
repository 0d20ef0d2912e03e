#!/usr/bin/env node
// Key-file helper for run.sh (the key file format: "0x" + 64 hex digits + "\n", mode 600).
//   node lib/wallet.mjs address KEYFILE   print the key's address (EIP-55), derived with viem
//   node lib/wallet.mjs generate KEYFILE  write a fresh key (refuses to overwrite), print its address
import { openSync, readFileSync, writeSync, closeSync } from "node:fs";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

const [cmd, file] = process.argv.slice(2);
if (!file || (cmd !== "address" && cmd !== "generate")) {
  process.stderr.write("usage: node lib/wallet.mjs address|generate KEYFILE\n");
  process.exit(2);
}
if (cmd === "generate") {
  const key = generatePrivateKey();
  const fd = openSync(file, "wx", 0o600);
  writeSync(fd, `${key}\n`);
  closeSync(fd);
  console.log(privateKeyToAccount(key).address);
} else {
  const text = readFileSync(file, "utf8").trim();
  const hex = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    process.stderr.write(`${file}: not a 32-byte hex private key\n`);
    process.exit(1);
  }
  console.log(privateKeyToAccount(`0x${hex.toLowerCase()}`).address);
}
