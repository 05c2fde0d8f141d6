"""The L1 side: zkseq's rollup contract (contracts/, fork-6 ABI) as seen from Python.

artifacts   the compiled contracts (contracts/artifacts/*.json) and their source hash
rollup      calldata of sequenceBatches / forceBatch / sequenceForceBatches /
            verifyBatchesTrustedAggregator, and the decoded events: pure, no node needed
errors      every custom error of the contracts as a named Python exception
transact    sign, send and wait for one transaction; reverts raised by name
deploy      the contract suite onto any JSON-RPC node, with one key
client      reads of the rollup's and the global exit root manager's state and events
anvil       anvil (the local L1 node from npm) as a child process, for tests and the devnet
testkeys    anvil's public default keys: TEST-ONLY

┌────────────────────────────┐ globalExitRootMap(ger)  ┌───────────────────────┐
│ ZkEVMRollup                │────────────────────────▶│ GlobalExitRootManager │◀── updateExitRoot
│  sequenceBatches (trusted) │  getLastGlobalExitRoot  │  mainnet / rollup     │    (bridge account)
│  forceBatch / sequence…    │────────────────────────▶│  exit roots           │
│  verifyBatchesTrusted…  ───┼── updateExitRoot ──────▶│                       │
└─────────────┬──────────────┘                         └───────────────────────┘
              │ verifyProof
              ▼
     AcceptAnyProofVerifier
"""
