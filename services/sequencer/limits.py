"""What a batch may hold, how full it is, and why it closes (zkevm-node.md §1.4, spec §7.2).

A batch is bounded by ten resources: its transaction count, its batchL2Data bytes, the gas its
transactions used, and the seven ZK counters the prover's state machines fill ("trace rows").
The limits default to zkevm-node v0.4.x's `State.Batch.Constraints`, about 90 % of the circuit
sizes, so a batch the sequencer accepts is always provable:

    MaxTxsPerBatch 300   MaxBatchBytesSize 120000   MaxCumulativeGasUsed 30000000
    MaxKeccakHashes 2145   MaxPoseidonHashes 252357   MaxPoseidonPaddings 135191
    MaxMemAligns 236585    MaxArithmetics 236585      MaxBinaries 473170   MaxSteps 7570538

Counting a batch's ZK counters
------------------------------
The sequencer runs each transaction as a one-transaction ProcessBatch call, and the executor
reports the counters of that whole call: the transaction *plus* the batch prologue and epilogue
(reading the system slots, hashing batchL2Data, the accInputHash …). zkevm-node subtracts the full
call counters from the batch's budget for every transaction, so it pays the prologue once per
transaction: 4 of the 8 Keccak hashes a transfer's call counts, which caps a batch of transfers at
268 transactions (2145 / 8) instead of 300. zkseq instead measures the counters of an *empty* call
once (the `baseline`) and counts

    batch ≈ call(tx₁) + Σᵢ₌₂ⁿ (call(txᵢ) − baseline + 1 Keccak)

The baseline holds the Keccak of hashing an empty batchL2Data (⌈1/136⌉ = 1); adding it back per
transaction makes the data term Σ⌈(lᵢ+1)/136⌉, never below the whole batch's ⌈(Σlᵢ+1)/136⌉. Every
other cost is per transaction, so the estimate never falls below what the batch uses; when the batch
closes, its re-execution gives the exact figures, which the metrics report.

Closing
-------
A batch closes when the next transaction would take any resource past its limit (the transaction
then opens the next batch), when it reaches the transaction count, when it has been open for the
time limit (a non-empty batch never waits longer), or before a forced batch that is due. An empty
batch never closes. zkevm-node also closes "almost full" batches (10 % left of any resource) and
meanwhile looks for smaller transactions that still fit; zkseq keeps the pool's best-price order and
closes on the first transaction that does not fit: that costs one discarded pre-execution per batch,
not a scan of the pool, and the discarded transaction is the first of the next batch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Final


class CloseReason(enum.StrEnum):
    """Why a batch closed (the `reason` label of the batches-closed metric)."""

    TX_COUNT = "tx_count"
    BYTES = "bytes"
    GAS = "gas"
    COUNTERS = "counters"
    TIME = "time"
    #: closed early so that a forced batch that is due is sequenced next
    FORCED_BATCH = "forced_batch"
    #: a forced batch is a batch of its own, closed as it is written
    FORCED = "forced"


@dataclass(frozen=True, slots=True)
class ZkCounters:
    """ZK counter usage (or limits), in the field order of executor.v1 ProcessBatchResponse."""

    keccak_hashes: int = 0
    poseidon_hashes: int = 0
    poseidon_paddings: int = 0
    mem_aligns: int = 0
    arithmetics: int = 0
    binaries: int = 0
    steps: int = 0

    def __add__(self, other: ZkCounters) -> ZkCounters:
        return ZkCounters(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def minus(self, other: ZkCounters) -> ZkCounters:
        """Component-wise difference, never below zero."""
        return ZkCounters(*(max(0, a - b) for a, b in zip(self.values(), other.values(), strict=True)))

    def values(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in COUNTER_NAMES)

    def first_over(self, limits: ZkCounters) -> str | None:
        """The first counter above its limit, or None."""
        for name in COUNTER_NAMES:
            if getattr(self, name) > getattr(limits, name):
                return name
        return None


COUNTER_NAMES: Final = tuple(f.name for f in fields(ZkCounters))

#: zkevm-node v0.4.x `State.Batch.Constraints` (spec §7.2)
NODE_COUNTER_LIMITS: Final = ZkCounters(
    keccak_hashes=2_145,
    poseidon_hashes=252_357,
    poseidon_paddings=135_191,
    mem_aligns=236_585,
    arithmetics=236_585,
    binaries=473_170,
    steps=7_570_538,
)
#: the Keccak hash of batchL2Data a split of the data over calls can hide (module notes)
DATA_HASH_SLACK: Final = ZkCounters(keccak_hashes=1)


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_txs: int = 300
    #: the L1 contract's `_MAX_TRANSACTIONS_BYTE_LENGTH` (spec §5.4)
    max_bytes: int = 120_000
    #: a policy of zkevm-node (`MaxCumulativeGasUsed`); the protocol only caps each tx at 30M
    max_gas: int = 30_000_000
    counters: ZkCounters = NODE_COUNTER_LIMITS


@dataclass(frozen=True, slots=True)
class BatchUsage:
    """What a batch holds so far."""

    txs: int = 0
    bytes: int = 0
    gas: int = 0
    counters: ZkCounters = ZkCounters()

    def plus(self, *, tx_bytes: int, gas: int, counters: ZkCounters) -> BatchUsage:
        return BatchUsage(self.txs + 1, self.bytes + tx_bytes, self.gas + gas, self.counters + counters)

    def fill(self, limits: BatchLimits) -> dict[str, float]:
        """Each resource as a fraction of its limit: txs, bytes, gas, then the seven counters."""
        out = {
            "txs": self.txs / limits.max_txs,
            "bytes": self.bytes / limits.max_bytes,
            "gas": self.gas / limits.max_gas,
        }
        for name in COUNTER_NAMES:
            out[name] = getattr(self.counters, name) / max(1, getattr(limits.counters, name))
        return out


@dataclass(frozen=True, slots=True)
class Misfit:
    """A transaction does not fit: the resource, and whether it could not fit even an empty batch."""

    reason: CloseReason
    #: "txs", "bytes", "gas" or a counter name
    resource: str
    alone: bool


def bytes_misfit(usage: BatchUsage, tx_bytes: int, limits: BatchLimits) -> Misfit | None:
    """Checked before executing: the record size is known up front."""
    if tx_bytes > limits.max_bytes:
        return Misfit(CloseReason.BYTES, "bytes", alone=True)
    if usage.bytes + tx_bytes > limits.max_bytes:
        return Misfit(CloseReason.BYTES, "bytes", alone=False)
    return None


def executed_misfit(
    usage: BatchUsage, *, gas: int, counters: ZkCounters, alone_counters: ZkCounters, limits: BatchLimits
) -> Misfit | None:
    """Checked after executing: would the transaction's gas and counters still fit this batch?

    `counters` is what the transaction adds to this batch (module notes); `alone_counters` what it
    uses as the only transaction of a batch — above the limits, it can never be sequenced.
    """
    over = alone_counters.first_over(limits.counters)
    if over is not None:
        return Misfit(CloseReason.COUNTERS, over, alone=True)
    if gas > limits.max_gas:
        return Misfit(CloseReason.GAS, "gas", alone=True)
    over = (usage.counters + counters).first_over(limits.counters)
    if over is not None:
        return Misfit(CloseReason.COUNTERS, over, alone=False)
    if usage.gas + gas > limits.max_gas:
        return Misfit(CloseReason.GAS, "gas", alone=False)
    return None


def batch_counters(usage: BatchUsage, call: ZkCounters, baseline: ZkCounters) -> ZkCounters:
    """What a transaction whose one-transaction call used `call` adds to a batch (module notes)."""
    if usage.txs == 0:
        return call
    return call.minus(baseline) + DATA_HASH_SLACK
