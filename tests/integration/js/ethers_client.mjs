// ethers v6 against the zkseq JSON-RPC server: what a dapp does to read the chain and send a
// transaction. Run by tests/integration/test_jsonrpc_clients.py:
//
//     node ethers_client.mjs '<json config>'
//
// config: { url, chainId, key (0x…), bob, logger, storedTopic, storeHash, revertHash }
// Prints one JSON object with what ethers saw (bigints as decimal strings); the Python test checks
// it. Any exception ends the script with exit code 1 and the error on stderr.

import { JsonRpcProvider, Wallet, zeroPadValue, toBeHex } from "ethers";

const config = JSON.parse(process.argv[2]);
// ethers batches concurrent calls into JSON-RPC batch requests (its default); its 250 ms cache of
// identical requests is off, so the pending nonce read after sending is a fresh one
const provider = new JsonRpcProvider(config.url, undefined, { cacheTimeout: -1 });
const wallet = new Wallet(config.key, provider);
const word = (n) => zeroPadValue(toBeHex(n), 32);

const out = {};
const network = await provider.getNetwork();
out.chainId = network.chainId;
out.blockNumber = await provider.getBlockNumber();

// several reads at once: ethers sends them as one batch
const [balance, latestNonce, pendingNonce, block, feeData] = await Promise.all([
  provider.getBalance(config.bob),
  provider.getTransactionCount(wallet.address, "latest"),
  provider.getTransactionCount(wallet.address, "pending"),
  provider.getBlock("latest", true),
  provider.getFeeData(),
]);
Object.assign(out, { balance, latestNonce, pendingNonce });
out.block = {
  number: block.number,
  hash: block.hash,
  parentHash: block.parentHash,
  miner: block.miner,
  baseFeePerGas: block.baseFeePerGas,
  transactions: block.prefetchedTransactions.map((tx) => ({ hash: tx.hash, type: tx.type, from: tx.from })),
};
out.feeData = {
  gasPrice: feeData.gasPrice,
  maxFeePerGas: feeData.maxFeePerGas,
  maxPriorityFeePerGas: feeData.maxPriorityFeePerGas,
};

const receipt = await provider.getTransactionReceipt(config.storeHash);
out.receipt = {
  status: receipt.status,
  blockNumber: receipt.blockNumber,
  blockHash: receipt.blockHash,
  gasUsed: receipt.gasUsed,
  logs: receipt.logs.map((log) => ({ address: log.address, topics: log.topics, data: log.data, index: log.index })),
};
const reverted = await provider.getTransactionReceipt(config.revertHash);
out.revertedStatus = reverted.status;

const logs = await provider.getLogs({ fromBlock: 0, toBlock: "latest", address: config.logger, topics: [config.storedTopic] });
out.logs = logs.map((log) => ({ blockNumber: log.blockNumber, transactionHash: log.transactionHash, data: log.data }));

out.call = await provider.call({ to: config.logger, data: word(9) });
try {
  await provider.call({ to: config.logger, data: word(0xdead) });
  out.revert = null;
} catch (error) {
  out.revert = { code: error.code, reason: error.reason ?? null, data: error.data ?? null };
}
out.estimate = await provider.estimateGas({ from: wallet.address, to: config.bob, value: 1n });

// a transfer: ethers fills nonce ("pending"), chain id, gas (estimateGas) and the fee fields
// (getFeeData: no baseFeePerGas in blocks, so a legacy gasPrice)
const sent = await wallet.sendTransaction({ to: config.bob, value: 12345n });
out.sent = { hash: sent.hash, type: sent.type, nonce: sent.nonce, gasPrice: sent.gasPrice, gasLimit: sent.gasLimit,
             maxFeePerGas: sent.maxFeePerGas, chainId: sent.chainId };
const pending = await provider.getTransaction(sent.hash);
out.pending = { hash: pending.hash, blockNumber: pending.blockNumber, from: pending.from, value: pending.value };
out.pendingNonceAfter = await provider.getTransactionCount(wallet.address, "pending");

provider.destroy();
console.log(JSON.stringify(out, (key, value) => (typeof value === "bigint" ? value.toString() : value)));
