"""Genesis: the initial state into the HashDB, and batch 0 / block 0 into the StateDB.

    python -m services.sequencer.genesis      (ZKSEQ_SEQUENCER_* settings; GENESIS_FILE required)

The sequencer does the same at start when ZKSEQ_SEQUENCER_GENESIS_FILE is set, so a devnet needs no
separate step. Both are idempotent: on a StateDB that already has batch 0 they only check that its
state root is the file's.

The genesis file is JSON, in the format of the fork-6 test vectors' `genesis` lists::

    {"timestamp": 0,                                   (optional: batch 0's timestamp)
     "accounts": [
        {"address": "0x617b…063d", "balance": "100000000000000000000", "nonce": "0"},
        {"address": "0x1275…", "balance": "0", "bytecode": "0x6080…",
         "storage": {"0x00": "0x01"}}
     ]}

(a bare list of accounts is accepted too). Numbers are decimal or 0x-hex strings (or JSON integers).
`zkevm.genesis` builds the tree writes; they go to the HashDB in one SetMany (persistence DATABASE),
the bytecode with SetProgram, then one Flush, and the step waits until the HashDB reports that flush
stored. The root the HashDB returns must equal the root computed here from the same writes.
Batch 0 is then written closed, with state root = the genesis root, zero local exit root, zero
accInputHash (the L1 contract's `sequencedBatches[0]`), and block 0 (no transaction).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from google.protobuf import empty_pb2
from grpc import aio

from protos.hashdb.v1 import hashdb_pb2 as hpb
from services.common.config import ConfigError
from services.common.grpc_client import UnaryMethod
from services.common.logs import EventLogger, configure_logging
from services.common.statedb import StateDB, open_statedb
from services.common.statedb.models import Batch, Hash32, L2Block, StateRoot
from services.sequencer.blocks import genesis_block
from services.sequencer.config import SequencerConfig
from services.sequencer.grpc_ports import HASHDB_SERVICE
from zkevm.bytecode import bytecode_hash
from zkevm.field import H4, ZERO_H4, bytes_to_h4, h4_to_bytes, hex_to_bytes, parse_int
from zkevm.genesis import GenesisAccount, build_genesis, genesis_writes
from zkevm.nodestore import MemoryNodeStore

ZERO_HASH = Hash32(bytes(32))


class GenesisError(Exception):
    """The genesis file is malformed, or disagrees with what the HashDB or StateDB holds."""


@dataclass(frozen=True, slots=True)
class Genesis:
    accounts: tuple[GenesisAccount, ...]
    timestamp: int = 0

    def state_root(self) -> bytes:
        """The genesis root, computed in this process."""
        return h4_to_bytes(build_genesis(self.accounts, MemoryNodeStore()))


def parse_genesis(data: Any) -> Genesis:
    entries = data.get("accounts") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise GenesisError("a genesis is a list of accounts, or an object with an `accounts` list")
    accounts = []
    for i, entry in enumerate(entries):
        try:
            code = entry.get("bytecode")
            accounts.append(
                GenesisAccount(
                    address=hex_to_bytes(entry["address"], 20),
                    balance=parse_int(entry.get("balance", 0)),
                    nonce=parse_int(entry.get("nonce", 0)),
                    bytecode=None if code is None else hex_to_bytes(code),
                    storage={parse_int(k): parse_int(v) for k, v in (entry.get("storage") or {}).items()},
                )
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise GenesisError(f"accounts[{i}] is not a valid account: {exc!r}") from exc
    timestamp = parse_int(data.get("timestamp", 0)) if isinstance(data, dict) else 0
    return Genesis(tuple(accounts), timestamp)


def read_genesis_file(path: Path) -> Genesis:
    try:
        return parse_genesis(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise GenesisError(f"cannot read the genesis file {path}: {exc}") from exc


def _fea(h: H4) -> hpb.Fea:
    return hpb.Fea(fe0=h[0], fe1=h[1], fe2=h[2], fe3=h[3])


async def load_into_hashdb(
    channel: aio.Channel, genesis: Genesis, *, timeout_s: float = 60.0, poll_s: float = 0.05
) -> bytes:
    """Write the genesis state into the HashDB and wait until it is stored; returns its root."""
    expected = genesis.state_root()
    if bytes_to_h4(expected) == ZERO_H4:
        return expected
    path = f"/{HASHDB_SERVICE}/"
    set_program = UnaryMethod[hpb.SetProgramRequest, hpb.SetProgramResponse](
        channel, path + "SetProgram", hpb.SetProgramResponse, timeout_s
    )
    set_many = UnaryMethod[hpb.SetManyRequest, hpb.SetManyResponse](
        channel, path + "SetMany", hpb.SetManyResponse, timeout_s
    )
    flush = UnaryMethod[hpb.FlushRequest, hpb.FlushResponse](
        channel, path + "Flush", hpb.FlushResponse, timeout_s
    )
    status = UnaryMethod[empty_pb2.Empty, hpb.GetFlushStatusResponse](
        channel, path + "GetFlushStatus", hpb.GetFlushStatusResponse, timeout_s
    )
    for account in genesis.accounts:
        if account.bytecode:
            await set_program(
                hpb.SetProgramRequest(
                    key=_fea(bytecode_hash(account.bytecode)), data=account.bytecode, persistent=True
                )
            )
    writes = [
        hpb.KeyValue(key=_fea(key), value=f"{value:x}") for key, value in genesis_writes(genesis.accounts)
    ]
    response = await set_many(
        hpb.SetManyRequest(old_root=_fea(ZERO_H4), writes=writes, persistence=hpb.PERSISTENCE_DATABASE)
    )
    new_root = response.new_root
    root = h4_to_bytes((new_root.fe0, new_root.fe1, new_root.fe2, new_root.fe3))
    if root != expected:
        raise GenesisError(
            f"the HashDB computed genesis root 0x{root.hex()}, this process 0x{expected.hex()}"
        )
    ticket = await flush(hpb.FlushRequest(new_state_root=root.hex(), persistence=hpb.PERSISTENCE_DATABASE))
    while (await status(empty_pb2.Empty())).stored_flush_id < ticket.flush_id:
        await asyncio.sleep(poll_s)
    return root


class GenesisStore(Protocol):
    async def genesis_state_root(self) -> bytes | None:
        """Batch 0's state root, or None when the StateDB is empty."""
        ...

    async def add_genesis(self, batch: Batch, block: L2Block) -> None: ...


class StateDBGenesisStore:
    def __init__(self, statedb: StateDB) -> None:
        self._db = statedb

    async def genesis_state_root(self) -> bytes | None:
        batch = await asyncio.to_thread(self._db.batches.get_batch, 0)
        return None if batch is None else batch.state_root

    async def add_genesis(self, batch: Batch, block: L2Block) -> None:
        await asyncio.to_thread(self._db.batches.add_genesis, batch, block)


async def ensure_genesis(
    store: GenesisStore, hashdb: aio.Channel, genesis: Genesis, coinbase: bytes, log: EventLogger
) -> bytes:
    """Write the genesis if the StateDB has none; check it otherwise. Returns the genesis root."""
    stored = await store.genesis_state_root()
    expected = genesis.state_root()
    if stored is not None:
        if stored != expected:
            raise GenesisError(
                f"the StateDB's batch 0 has state root 0x{stored.hex()}, "
                f"the genesis file gives 0x{expected.hex()}"
            )
        return stored
    root = await load_into_hashdb(hashdb, genesis)
    batch = Batch(
        number=0,
        batch_l2_data=b"",
        global_exit_root=ZERO_HASH,
        timestamp=genesis.timestamp,
        coinbase=coinbase,  # type: ignore[arg-type]
        state_root=StateRoot(root),
        local_exit_root=ZERO_HASH,
        acc_input_hash=ZERO_HASH,
        closed=True,
    )
    await store.add_genesis(
        batch, genesis_block(state_root=root, timestamp=genesis.timestamp, coinbase=coinbase)
    )
    log.info("genesis_written", state_root="0x" + root.hex(), accounts=len(genesis.accounts))
    return root


async def _main() -> int:
    try:
        config = SequencerConfig.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    log = EventLogger("zkseq.sequencer.genesis")
    if config.genesis_file is None:
        print("ZKSEQ_SEQUENCER_GENESIS_FILE: required by the genesis step", file=sys.stderr)
        return 2
    try:
        genesis = read_genesis_file(config.genesis_file)
        statedb = await asyncio.to_thread(open_statedb, config.statedb_url)
        try:
            async with aio.insecure_channel(config.hashdb_url) as channel:
                root = await ensure_genesis(
                    StateDBGenesisStore(statedb), channel, genesis, config.coinbase, log
                )
        finally:
            statedb.close()
    except (GenesisError, aio.AioRpcError) as exc:
        log.error("genesis_failed", error=str(exc))
        return 1
    print("0x" + root.hex())
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
