"""The JSON-RPC server: what wallets, dapps and tools (web3.py, ethers, cast, MetaMask) talk to.

::

    HTTP POST / ──▶ server (aiohttp: body limit, CORS) ──▶ dispatch (JSON-RPC 2.0, batches,
                                                          per-method parameter checks, error codes)
                                                              │
                                  api: eth_* net_* web3_* zkevm_* ◀──┘
            ┌──────────────────────┬──────────────┼───────────────────┬────────────────────┐
            ▼                      ▼              ▼                   ▼                    ▼
     chain (StateDB:       state (HashDB:     pool (gRPC:       calls ──▶ executor (gRPC:
     blocks, txs,          nonce, balance,    sendRaw, pending  ProcessBatch with `from`,
     receipts, logs,       code, storage      nonce, pending    tree not updated) for
     batches)              at a block root)   transactions;     eth_call / estimateGas
                                              concurrent sends
                                              share one
                                              AddTransactions)

Modules
-------
    config         ZKSEQ_JSONRPC_* settings (port 8123, limits, backend addresses, chain id)
    server         the aiohttp application: POST / and the body-size limit
    dispatch       JSON-RPC 2.0: parsing, batches, the method registry with parameter checks
    errors         the error codes (-32700 … -32000, 3 for reverts) as exceptions
    codec, params  hex quantities and data; block ids, call objects, log filters
    api            the methods
    calls          eth_call and eth_estimateGas on the executor (gas search)
    views          blocks, transactions, receipts, logs, batches as JSON objects
    headers        the header fields computed rather than stored (roots, size, RLP)
    backends       the consumer-owned Protocols of the five backends
    chain          StateDB implementation of the chain and batch readers
    grpc_backends  HashDB, pool and executor implementations over gRPC
    memory         in-memory twins of the state reader and the pool (unit tests)
    metrics        zkseq_jsonrpc_* Prometheus metrics
    app            wiring of one process; `python -m services.jsonrpc` runs it

Transactions are legacy only (fork 6): blocks carry no baseFeePerGas, eth_gasPrice is the price to
use, and eth_feeHistory / eth_maxPriorityFeePerGas answer -32601 (see api).
"""
