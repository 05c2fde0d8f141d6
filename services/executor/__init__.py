"""The executor: runs fork-6 batches and keeps the L2 state tree in the HashDB up to date.

processor   process_batch: batchL2Data, GER, timestamp, coinbase → new roots and receipts
vm          the fork-6 EVM (py-evm Berlin + the zkEVM's own opcodes, precompiles, SENDALL)
state       py-evm's account database over SMT leaves; the read cache of a batch
counters    the ZK-counter estimate (virtual counters) and the fork-6 budgets
errors      RomError / ExecutorError, numbered as in the fork-6 executor.proto
"""
