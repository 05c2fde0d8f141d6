"""The EthTxManager service: the only holder of the sequencer's L1 key and nonce.

    sequencesender ──Add(id, to, data)──▶ manager ──CREATED row──▶ StateDB (monitored_txs)
                   ◀─Result / List──────    │
                                            ▼
                                         monitor ──sign, store attempt, eth_sendRawTransaction──▶ L1
                                            └── receipts, reorgs, stuck / dropped, confirmations ◀─┘

Modules: config (ZKSEQ_ETHTXMANAGER_*), fees (pricing and bumping), l1 (JSON-RPC client and the
node's refusals), signer (the key), monitor (the state machine; its docstring is the design),
manager (Add / Result / List), servicer (protobuf ↔ domain), metrics, app (wiring), __main__.
"""
