#!/usr/bin/env node
// Compile contracts/src/**/*.sol with solc-js (the exact version package.json pins) through the
// standard-JSON interface, and write one artifact per deployable contract:
//
//   artifacts/<Name>.json = { contractName, sourceName, compiler, settings, sourceHash,
//                             abi, bytecode, deployedBytecode }
//
// `sourceHash` covers every .sol file under src/ and this script, so a stale artifact is found
// without a compiler (services/common/l1/artifacts.py computes the same hash):
//
//   sourceHash = "0x" + sha256( for each file, sorted by its path relative to contracts/:
//                               path + "\n" + hex(sha256(content)) + "\n" )
//
// Usage: node compile.js [--out <dir>]     (default: artifacts/ beside this script)
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = __dirname;
const SRC = path.join(ROOT, "src");

// Shanghai: PUSH0 but nothing newer, so the bytecode runs on any current L1 (mainnet, Sepolia,
// geth devnets, anvil's default hardfork) and on Shanghai-era nodes.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "shanghai",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function listSources(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listSources(full));
    else if (entry.name.endsWith(".sol")) found.push(full);
  }
  return found;
}

function posixRelative(file) {
  return path.relative(ROOT, file).split(path.sep).join("/");
}

function sha256Hex(data) {
  return crypto.createHash("sha256").update(data).digest("hex");
}

function sourceHash(files) {
  const named = files.map((file) => [posixRelative(file), fs.readFileSync(file)]);
  named.push(["compile.js", fs.readFileSync(__filename)]);
  named.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const listing = named.map(([name, content]) => `${name}\n${sha256Hex(content)}\n`).join("");
  return "0x" + sha256Hex(listing);
}

function main() {
  const outFlag = process.argv.indexOf("--out");
  const outDir = outFlag >= 0 ? path.resolve(process.argv[outFlag + 1]) : path.join(ROOT, "artifacts");

  const pinned = require(path.join(ROOT, "package.json")).devDependencies.solc;
  const version = solc.version();
  if (!version.startsWith(pinned + "+")) {
    throw new Error(`solc-js ${version} is installed but package.json pins ${pinned}: run npm ci in contracts/`);
  }

  const files = listSources(SRC);
  const sources = {};
  for (const file of files) sources[posixRelative(file)] = { content: fs.readFileSync(file, "utf8") };
  const input = { language: "Solidity", sources, settings: SETTINGS };

  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const problems = output.errors || [];
  for (const problem of problems) process.stderr.write(problem.formattedMessage + "\n");
  if (problems.some((problem) => problem.severity === "error")) process.exit(1);

  const hash = sourceHash(files);
  const written = [];
  fs.mkdirSync(outDir, { recursive: true });
  for (const sourceName of Object.keys(output.contracts).sort()) {
    for (const [contractName, contract] of Object.entries(output.contracts[sourceName])) {
      const bytecode = contract.evm.bytecode.object;
      if (!bytecode) continue; // interfaces and abstract contracts
      const artifact = {
        contractName,
        sourceName,
        compiler: `solc-js ${version}`,
        settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion },
        sourceHash: hash,
        abi: contract.abi,
        bytecode: "0x" + bytecode,
        deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
      };
      fs.writeFileSync(path.join(outDir, `${contractName}.json`), JSON.stringify(artifact, null, 2) + "\n");
      written.push(contractName);
    }
  }
  process.stdout.write(`compiled ${written.join(", ")} with solc-js ${version} into ${outDir}\n`);
}

main();
