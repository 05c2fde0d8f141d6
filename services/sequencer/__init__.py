"""services/sequencer — the trusted sequencer: pool transactions in, closed fork-6 batches out.

::

    pool ──ready / SelectMany──▶ Finalizer ──ProcessBatch(a group, update_merkle_tree=1)──▶ executor
      ▲                            │ a group: ready txs, one per sender; kept whole if     │ flush id
      │                            │ all are in and it fits, else a shorter prefix or one  ▼
      │                            │ tx alone; closes the batch on tx count, bytes, gas, HashDB
      │                            │ ZK counters, time; forced batches first when due      │
      │                            ▼ BlockJob / CloseJob / ForcedJob, in order             │
      │                         Recorder ── GetFlushStatus: stored ≥ flush id? ◀───────────┘
      └── MarkIncludedMany ◀────── │ ── StateDB: open batch + L2 blocks (one database
                                   │    transaction per write), close with the roots and accInputHash
                                   └─── whole-batch re-execution (update_merkle_tree=0) must
                                        give the same roots, or the sequencer halts

Modules
-------
    sequencer   recovery at start, the two tasks, their supervision, the status   (start here)
    finalizer   the loop that takes, pre-executes (in groups), keeps or refuses, and closes
    recorder    durability in order: flush wait, StateDB writes, pool marks, batch close
    limits      batch limits (§7.2 defaults), usage, closing decisions, the counter estimate
    outcomes    what each RomError / ExecutorError means for the transaction or the call
    blocks      the L2 block of a transaction and its hash (keccak of the geth header)
    l1clock     batch timestamps: never behind the previous batch, never ahead of L1
    ports       the Protocols the sequencer owns (executor, pool, HashDB, StateDB, L1 clock)
    grpc_ports  those ports over gRPC          ledger   the StateDB port over the repositories
    work        the jobs, the open batch, the settings, the halt exception, backoff
    genesis     genesis JSON → HashDB and batch 0 (`python -m services.sequencer.genesis`)
    config      ZKSEQ_SEQUENCER_* settings     metrics  the hot path in Prometheus
    servicer    zkseq.sequencer.v1 GetStatus   app      wiring   __main__  the process

Where zkseq departs from zkevm-node v0.4.7 (shared/reference/zkevm-node.md §1), and why
--------------------------------------------------------------------------------------
* ZK counters per transaction: the node subtracts each one-transaction call's full counters, batch
  prologue included; zkseq subtracts an empty batch's counters from every call but the first and
  adds one Keccak back (limits.py). A transfer's call counts 8 Keccak hashes, 4 of them the batch's
  own, so the node's way caps a batch of transfers at 268 (2145 / 8) where zkseq reaches the
  300-transaction limit; a property test shows the estimate never falls below what the executor
  counts for the whole batch.
* No "almost full" rule and no search for smaller transactions: the batch closes on the first
  transaction that would not fit, which then opens the next batch. The best-priced transaction
  keeps its place; the cost is one discarded pre-execution per batch.
* An executor restart before a flush was stored: the node exits (log.Fatal) and drops its WIP
  batch; zkseq executes the unflushed transactions again on the same roots (the result must be
  identical, or it halts) and goes on — nothing executed is lost, nothing half-written.
* Halts: the node logs and loops forever; zkseq stops its loops, reports NOT_SERVING and the
  reason on its status RPC, and the process exits with code 3, so an orchestrator shows it.
* "No error and no responses" for one transaction marks that transaction invalid instead of
  halting the chain; a request-level error that only the sequencer's own configuration can cause
  (chain id, coinbase, fork id) halts.
* Timestamps come from the latest L1 block (an L1 JSON-RPC node), not from this machine's clock,
  which L1 may reject (zkevm-node#936).
* Batches open lazily: the StateDB gets a batch with its first block, in one transaction, so an
  empty batch never sits open and a batch's timestamp is that of its first transaction.
* Crash recovery re-executes the open batch (as the node does) and also makes the pool agree
  with the StateDB: recorded transactions are marked included, the rest released to pending.
"""
