// ethers v6 against a running zkseq devnet, as a dapp uses it. Run by tests/e2e/test_devnet.py:
//
//     node ethers_e2e.mjs '<json config>'
//
// config: { url, chainId, key (0x…), token, to }
// Sends an ERC-20 transfer of 7 units and an ETH transfer of 12345 wei to `to`, waits for both
// receipts, reads the token balance and the Transfer logs to `to`, and prints one JSON object
// (bigints as decimal strings). Any exception ends it with exit code 1 and the error on stderr.

import { Contract, JsonRpcProvider, Wallet } from "ethers";

const config = JSON.parse(process.argv[2]);
// receipts are polled every 200 ms (ethers' default is 4 s); no cache of identical requests
const provider = new JsonRpcProvider(config.url, undefined, { cacheTimeout: -1, pollingInterval: 200 });
const wallet = new Wallet(config.key, provider);
const token = new Contract(
  config.token,
  [
    "function transfer(address to, uint256 value) returns (bool)",
    "function balanceOf(address owner) view returns (uint256)",
    "function symbol() view returns (string)",
    "event Transfer(address indexed from, address indexed to, uint256 value)",
  ],
  wallet,
);

const out = {};
out.chainId = (await provider.getNetwork()).chainId;
out.symbol = await token.symbol();

// ethers fills nonce, gas (eth_estimateGas) and, as the blocks have no base fee, a legacy gasPrice
const tokenTx = await token.transfer(config.to, 7n);
const tokenReceipt = await tokenTx.wait(1, 60_000);
out.tokenTransfer = {
  hash: tokenTx.hash,
  type: tokenTx.type,
  status: tokenReceipt.status,
  blockNumber: tokenReceipt.blockNumber,
  logs: tokenReceipt.logs.length,
};

const ethTx = await wallet.sendTransaction({ to: config.to, value: 12345n });
const ethReceipt = await ethTx.wait(1, 60_000);
out.ethTransfer = { hash: ethTx.hash, type: ethTx.type, status: ethReceipt.status, blockNumber: ethReceipt.blockNumber };

out.tokenBalance = await token.balanceOf(config.to);
out.ethBalance = await provider.getBalance(config.to);
const logs = await token.queryFilter(token.filters.Transfer(null, config.to), 0, "latest");
out.transfersTo = logs.map((log) => ({ from: log.args[0], value: log.args[2], blockNumber: log.blockNumber }));

provider.destroy();
console.log(JSON.stringify(out, (key, value) => (typeof value === "bigint" ? value.toString() : value)));
