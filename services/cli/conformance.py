"""`zkseq conformance PATH`: judge zkseq against the fork-6 vector files found under PATH.

Each vector file is recognised by its name or its shape and feeds one or more suites; each suite
counts its cases as passed, failed or divergent (shared/spec/CONFORMANCE.md):

    suite                  what is compared                                      spec
    poseidon-params        packaged constants == poseidon_constants.json          §1.4
    poseidon               H(inputs, capacity) (C and pure-Python twin)           §1.6
    smt-raw                roots of insert/delete sequences                       §3
    state-key              balance / nonce / code / length / storage keys         §4.1
    bytecode-hash          linear-Poseidon code hashes                            §4.3
    genesis-root           genesis roots of the merkle-tree files                 §4.2
    effective-gas-price    floor(gasPrice·(ep+1)/256)                             §5.1
    old-root               every expectedOldRoot (genesis of a batch file)        §4.2
    batch-hash-data        keccak(batchL2Data) == batchHashData                   §5.4
    acc-input-hash         the accInputHash chain == expectedNewAccInputHash      §5.4
    batch-decode           batchL2Data -> transactions; re-encoding and senders   §5.1–5.3
    db-nodes               executor-input DB dumps: node hash == H(node)          §3.6
    new-root               the executor's new state root after the batch          §6
    new-acc-input-hash     the executor's new accInputHash                        §5.4, §6
    new-local-exit-root    the executor's new local exit root                     §6.8
    new-leafs              balances, nonces, storage, code hash and length        §4, §6.7

The execution suites run `services.executor.processor.process_batch` on every batch file (processor,
zkevm-db, block-info, selfdestruct, end-to-end) from its genesis, chaining multi-batch files, and on
every executor input (inputs-executor, prover-v3.0.2) from its DB dump.

A case is divergent only when a quirk of spec §6.10 explains it (the table `KNOWN_DIVERGENCES`);
an explicit compatibility option can turn such a case into a pass, and the suite's line names it.
A field that the vector folder's README documents as stale and unchecked upstream is not compared
at all (the table `UNCHECKED_FIELDS`); the report lists each such field.
"""

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Final, TextIO

from services.executor.errors import BatchRejected
from services.executor.processor import BatchRequest, BatchResult, process_batch
from services.executor.state import LocalStateTree
from zkevm import poseidon, poseidon_params, poseidon_ref
from zkevm.batch import ZERO_HASH, acc_input_hash, batch_hash_data
from zkevm.bytecode import bytecode_hash
from zkevm.errors import DecodeError, InvalidSignatureError, ZkevmError
from zkevm.field import (
    H4,
    ZERO_H4,
    bytes_to_h4,
    h4_to_bytes,
    h4_to_hex,
    h4_to_int,
    hex_to_bytes,
    hex_to_h4,
    int_to_h4,
    parse_int,
)
from zkevm.genesis import GenesisAccount, build_genesis
from zkevm.nodestore import MemoryNodeStore
from zkevm.smt import SparseMerkleTree
from zkevm.state_keys import balance_key as _balance_key
from zkevm.state_keys import code_hash_key, code_length_key, nonce_key, storage_key
from zkevm.transaction import decode_batch_l2_data, effective_gas_price


class Status(Enum):
    PASSED = "passed"
    FAILED = "failed"
    DIVERGENT = "divergent"


@dataclass(frozen=True, slots=True)
class CaseResult:
    suite: str
    case: str
    status: Status
    detail: str = ""
    quirk: int | None = None


_QUIRK_2_EXECUTION: Final = (
    "last record lacks its effectivePercentage byte; the ROM executes no transaction of the batch"
)

#: (file path suffix, case id, suite) -> (quirk number of spec §6.10, why)
KNOWN_DIVERGENCES: Final[dict[tuple[str, str, str], tuple[int, str]]] = {
    ("processor/state-transition.json", "1", "batch-decode"): (
        2,
        "last record lacks its effectivePercentage byte; the ROM rejects the whole batch",
    ),
    ("processor/state-transition.json", "6", "batch-decode"): (
        2,
        "last record lacks its effectivePercentage byte; the ROM rejects the whole batch",
    ),
    ("zkevm-db/state-transition.json", "0", "batch-hash-data"): (
        11,
        "the file's batchHashData field is stale (not checked upstream)",
    ),
    # The ROM runs no transaction of a batch whose last record is one byte short (quirk 1), so
    # only the GER write is left; the JS reference ran the transactions.
    ("processor/state-transition.json", "1", "new-root"): (2, _QUIRK_2_EXECUTION),
    ("processor/state-transition.json", "1", "new-leafs"): (2, _QUIRK_2_EXECUTION),
    ("processor/state-transition.json", "6", "new-root"): (2, _QUIRK_2_EXECUTION),
    ("processor/state-transition.json", "6", "new-leafs"): (2, _QUIRK_2_EXECUTION),
}

#: (file path suffix, field) -> why the field is not compared: only fields that no upstream test
#: checks and that do not describe the file's own batches (vectors/README.md, or the upstream test
#: code as evidence). Every one is listed in the report; none is a JS-vs-ROM divergence.
UNCHECKED_FIELDS: Final[dict[tuple[str, str], str]] = {
    ("zkevm-db/recursive.json", "finalNewLeafs"): (
        "stale: upstream test/zkevm-db.test.js neither checks nor regenerates it; it holds the "
        "leaves after the first batch, not the final ones"
    ),
    ("inputs-executor/input_executor.json", "newStateRoot"): (
        "stale: predates the effectivePercentage byte and fork 6, not checked upstream (vectors/README.md)"
    ),
    ("inputs-executor/input_executor.json", "newAccInputHash"): (
        "stale: not checked upstream (vectors/README.md); it is keccak(old ‖ GER ‖ batchHashData ‖ "
        "timestamp ‖ sequencer), an older field order than §5.4"
    ),
}

#: the compatibility option that reproduces quirk 2 (off by default)
COMPAT_MISSING_EP: Final = "missing-ep"
COMPAT_OPTIONS: Final = (COMPAT_MISSING_EP,)


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)
    compat_used: dict[str, set[str]] = field(default_factory=dict)  # suite -> options that made passes
    unchecked: list[str] = field(default_factory=list)  # "file: field (why)" not compared

    def suites(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.results:
            seen.setdefault(r.suite, None)
        return list(seen)

    def count(self, status: Status, suite: str | None = None) -> int:
        return sum(1 for r in self.results if r.status is status and (suite is None or r.suite == suite))

    @property
    def ok(self) -> bool:
        return self.count(Status.FAILED) == 0


class _Context:
    """Collects results for one file, applying the divergence table and compatibility options."""

    def __init__(self, report: Report, rel: str, compat: frozenset[str]) -> None:
        self.report = report
        self.rel = rel
        self.compat = compat

    def add(self, suite: str, case_id: object, ok: bool, detail: str = "", compat_option: str = "") -> None:
        case = f"{self.rel}#{case_id}"
        if ok:
            self.report.results.append(CaseResult(suite, case, Status.PASSED))
            if compat_option:
                self.report.compat_used.setdefault(suite, set()).add(compat_option)
            return
        known = next(
            (
                q
                for (suffix, cid, s), q in KNOWN_DIVERGENCES.items()
                if self.rel.endswith(suffix) and cid == str(case_id) and s == suite
            ),
            None,
        )
        if known is not None:
            quirk, why = known
            self.report.results.append(CaseResult(suite, case, Status.DIVERGENT, why, quirk))
        else:
            self.report.results.append(CaseResult(suite, case, Status.FAILED, detail))

    @contextmanager
    def case(self, suite: str, case_id: object) -> Iterator["_Case"]:
        """One case: the body compares with `expect`; an error the vector provokes is a failure
        that names itself, and a body that compares nothing is a failure too."""
        c = _Case()
        try:
            yield c
        except (ZkevmError, ValueError, KeyError, TypeError) as exc:
            c.ok, c.detail = False, f"{type(exc).__name__}: {exc}"
        if c.ok is None:
            c.ok, c.detail = False, "no comparison was made"
        self.add(suite, case_id, c.ok, c.detail)


class _Case:
    __slots__ = ("detail", "ok")

    def __init__(self) -> None:
        self.ok: bool | None = None
        self.detail = ""

    def expect(self, got: object, want: object) -> None:
        """Record one comparison; the case passes only if every comparison holds."""
        if got != want:
            self.ok, self.detail = False, f"got {got}, expected {want}"
        elif self.ok is None:
            self.ok = True

    def expect_hex(self, got: bytes, want: str) -> None:
        self.expect("0x" + got.hex(), want.lower())


# -- genesis ---------------------------------------------------------------------------------


def _genesis_accounts(entries: list[dict[str, Any]]) -> list[GenesisAccount]:
    accounts = []
    for e in entries:
        code = e.get("bytecode")
        accounts.append(
            GenesisAccount(
                address=hex_to_bytes(e["address"], 20),
                balance=parse_int(e.get("balance", "0")),
                nonce=parse_int(e.get("nonce", "0")),
                bytecode=None if code is None else hex_to_bytes(code),
                storage={parse_int(k): parse_int(v) for k, v in (e.get("storage") or {}).items()},
            )
        )
    return accounts


def _genesis_root(entries: list[dict[str, Any]]) -> H4:
    return build_genesis(_genesis_accounts(entries), MemoryNodeStore())


# -- file handlers ---------------------------------------------------------------------------


def _poseidon_params(ctx: _Context, data: dict[str, Any]) -> None:
    with ctx.case("poseidon-params", "round_constants") as c:
        c.expect(list(poseidon_params.ROUND_CONSTANTS), data["round_constants"])
    with ctx.case("poseidon-params", "mds") as c:
        c.expect(list(poseidon_params.MDS_CIRCULANT), data["mds_circulant"])
        c.expect(list(poseidon_params.MDS_DIAGONAL), data["mds_diagonal"])
        c.expect([list(r) for r in poseidon_ref.MDS_MATRIX], data["mds_matrix"])
    opt = data["opt"]
    with ctx.case("poseidon-params", "opt") as c:
        c.expect(list(poseidon_params.OPT_ROUND_CONSTANTS), opt["C"])
        c.expect(list(poseidon_params.OPT_PRE_MATRIX), [x for row in opt["P"] for x in row])
        c.expect(list(poseidon_params.OPT_SPARSE_MATRICES), opt["S"])


def _poseidon_vectors(ctx: _Context, data: list[dict[str, Any]]) -> None:
    for i, v in enumerate(data):
        state = [x % poseidon_params.GOLDILOCKS_PRIME for x in (*v["input"], *v["capacity"])]
        with ctx.case("poseidon", f"{i}/c") as c:
            c.expect(poseidon.hash12(state), tuple(v["expected"]))
        with ctx.case("poseidon", f"{i}/python") as c:
            c.expect(poseidon_ref.hash12(state), tuple(v["expected"]))


def _smt_raw(ctx: _Context, data: list[dict[str, Any]]) -> None:
    for i, v in enumerate(data):
        with ctx.case("smt-raw", i) as c:
            tree = SparseMerkleTree(MemoryNodeStore())
            root = ZERO_H4
            for k, val in zip(v["keys"], v["values"], strict=True):
                root = tree.set(root, int_to_h4(parse_int(k)), parse_int(val)).new_root
            c.expect(h4_to_hex(root), v["expectedRoot"])


_KEY_FUNCS: Final[dict[str, Callable[[bytes], H4]]] = {
    "smt-key-eth-balance.json": _balance_key,
    "smt-key-eth-nonce.json": nonce_key,
    "smt-key-contract-code.json": code_hash_key,
    "smt-key-contract-length.json": code_length_key,
}


def _state_keys(ctx: _Context, data: list[dict[str, Any]], name: str) -> None:
    for i, v in enumerate(data):
        with ctx.case("state-key", f"{name}/{i}") as c:
            addr = hex_to_bytes(v["ethAddr"], 20)
            if name == "smt-key-contract-storage.json":
                key = storage_key(addr, parse_int(v["storagePosition"]))
            else:
                key = _KEY_FUNCS[name](addr)
            c.expect(h4_to_int(key), parse_int(v["expectedKey"]))


def _bytecode_hashes(ctx: _Context, data: list[dict[str, Any]]) -> None:
    for i, v in enumerate(data):
        with ctx.case("bytecode-hash", i) as c:
            c.expect(h4_to_hex(bytecode_hash(hex_to_bytes(v["bytecode"]))), v["expectedHash"])


def _genesis_roots(ctx: _Context, data: list[dict[str, Any]]) -> None:
    for i, v in enumerate(data):
        with ctx.case("genesis-root", i) as c:
            c.expect(h4_to_int(_genesis_root(v["addresses"])), parse_int(v["expectedRoot"]))


def _effective_gas_price(ctx: _Context, data: list[dict[str, Any]]) -> None:
    for i, v in enumerate(data):
        with ctx.case("effective-gas-price", i) as c:
            got = effective_gas_price(parse_int(v["gasPrice"]), parse_int(v["effectivePercentage"]))
            c.expect(got, parse_int(v["expectedOutput"]))


def _decode_batch(ctx: _Context, case_id: object, batch_l2_data: str, txs: list[dict[str, Any]]) -> None:
    """batchL2Data decodes to the transactions that carry a `customRawTx`, in order, with their senders."""
    raw = hex_to_bytes(batch_l2_data)
    in_batch = [t for t in txs if "customRawTx" in t]

    def compare(decoded_txs: list[Any], last_ep_missing: bool = False) -> tuple[bool, str]:
        if len(decoded_txs) != len(in_batch):
            return False, f"decoded {len(decoded_txs)} transactions, expected {len(in_batch)}"
        for n, (tx, want) in enumerate(zip(decoded_txs, in_batch, strict=True)):
            encoded = tx.encode()
            if last_ep_missing and n == len(in_batch) - 1:
                encoded = encoded[:-1]  # the vector's record lacks the byte the option supplied
            if "0x" + encoded.hex() != want["customRawTx"].lower():
                return False, f"tx {n}: re-encoding differs from customRawTx"
            if "Failed signature" in want.get("reason", ""):
                continue
            try:
                sender = "0x" + tx.sender().hex()
            except InvalidSignatureError as exc:
                return False, f"tx {n}: {exc}"
            if sender != want["from"].lower():
                return False, f"tx {n}: sender {sender}, expected {want['from']}"
        return True, ""

    try:
        decoded = decode_batch_l2_data(raw)
    except DecodeError as exc:
        # The ROM executes nothing from a batch that does not parse (§6.10 quirk 1). That matches the
        # vector only when none of its transactions was expected to be processed.
        if in_batch and all(t.get("reason") for t in in_batch):
            ctx.add("batch-decode", case_id, True)
            return
        if COMPAT_MISSING_EP in ctx.compat:
            try:
                ok, detail = compare(decode_batch_l2_data(raw, allow_missing_last_ep=True), True)
            except DecodeError as exc2:
                ok, detail = False, str(exc2)
            ctx.add("batch-decode", case_id, ok, detail, compat_option=COMPAT_MISSING_EP if ok else "")
            return
        ctx.add("batch-decode", case_id, False, f"{type(exc).__name__}: {exc}")
        return
    ok, detail = compare(decoded)
    ctx.add("batch-decode", case_id, ok, detail)


def _batch_files(ctx: _Context, data: list[dict[str, Any]]) -> None:
    """processor / block-info / selfdestruct / end-to-end / zkevm-db state-transition files."""
    for v in data:
        cid = v.get("id", 0)
        with ctx.case("old-root", cid) as c:
            c.expect(h4_to_hex(_genesis_root(v["genesis"])), v["expectedOldRoot"])
        if "batchHashData" in v:
            with ctx.case("batch-hash-data", cid) as c:
                c.expect_hex(batch_hash_data(hex_to_bytes(v["batchL2Data"])), v["batchHashData"])
        if "expectedNewAccInputHash" in v:
            with ctx.case("acc-input-hash", cid) as c:
                got = acc_input_hash(
                    hex_to_bytes(v["oldAccInputHash"], 32),
                    batch_hash_data(hex_to_bytes(v["batchL2Data"])),
                    hex_to_bytes(v["globalExitRoot"], 32),
                    parse_int(v["timestamp"]),
                    hex_to_bytes(v["sequencerAddress"], 20),
                )
                c.expect_hex(got, v["expectedNewAccInputHash"])
        _decode_batch(ctx, cid, v["batchL2Data"], v["txs"])
        _execute_batch_file(ctx, v)


def _multi_batch_file(ctx: _Context, data: dict[str, Any]) -> None:
    """block-info-batches.json and zkevm-db/recursive.json: one genesis, several chained batches."""
    cid = data.get("id", 0)
    with ctx.case("old-root", cid) as c:
        c.expect(h4_to_hex(_genesis_root(data["genesis"])), data["expectedOldRoot"])
    acc = hex_to_bytes(data.get("oldAccInputHash", "0x" + ZERO_HASH.hex()), 32)
    for n, b in enumerate(data["batches"]):
        l2data = b.get("batchL2Data", b.get("expectedBatchL2Data"))
        if l2data is None:
            continue
        case = f"{cid}/batch{n}"
        if "batchHashData" in b:
            with ctx.case("batch-hash-data", case) as c:
                c.expect_hex(batch_hash_data(hex_to_bytes(l2data)), b["batchHashData"])
        if "expectedNewAccInputHash" in b:
            with ctx.case("acc-input-hash", case) as c:
                acc = acc_input_hash(
                    acc,
                    batch_hash_data(hex_to_bytes(l2data)),
                    hex_to_bytes(b.get("globalExitRoot", data.get("globalExitRoot")), 32),
                    parse_int(b.get("timestamp", data.get("timestamp"))),
                    hex_to_bytes(data["sequencerAddress"], 20),
                )
                c.expect_hex(acc, b["expectedNewAccInputHash"])
        _decode_batch(ctx, case, l2data, b.get("txs", []))
    if "finalAccInputHash" in data:
        with ctx.case("acc-input-hash", f"{cid}/final") as c:
            c.expect_hex(acc, data["finalAccInputHash"])
    _execute_batch_chain(ctx, data)


def _executor_input(ctx: _Context, data: dict[str, Any]) -> None:
    """Executor inputs: DB dump hashes; for the prover's fork-6 inputs also batch hashes and accInputHash."""
    for node_hash, words in data.get("db", {}).items():
        with ctx.case("db-nodes", node_hash[:18]) as c:
            values = [int(w, 16) for w in words]
            values += [0] * (12 - len(values))  # value nodes are dumped with their 8 value words only
            want = node_hash.lower() if node_hash.startswith("0x") else "0x" + node_hash.lower()
            c.expect(h4_to_hex(poseidon.hash12(values)), want)
    if "batchHashData" in data:
        l2 = hex_to_bytes(data["batchL2Data"])
        with ctx.case("batch-hash-data", "0") as c:
            c.expect_hex(batch_hash_data(l2), data["batchHashData"])
        with ctx.case("acc-input-hash", "0") as c:
            got = acc_input_hash(
                hex_to_bytes(data["oldAccInputHash"], 32),
                batch_hash_data(l2),
                hex_to_bytes(data["globalExitRoot"], 32),
                parse_int(data["timestamp"]),
                hex_to_bytes(data["sequencerAddr"], 20),
            )
            c.expect_hex(got, data["newAccInputHash"])
        with ctx.case("batch-decode", "0") as c:
            c.expect(b"".join(tx.encode() for tx in decode_batch_l2_data(l2)).hex(), l2.hex())
    if {"oldStateRoot", "batchL2Data", "db"} <= data.keys():
        _execute_executor_input(ctx, data)


# -- execution suites ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Expected:
    """What a vector says the executor must produce (None: not given)."""

    new_root: str | None = None
    acc_input_hash: str | None = None
    local_exit_root: str | None = None
    leafs: dict[str, Any] | None = None
    new_batch_num: int | None = None


_Runner = Callable[[bool], tuple[BatchResult, LocalStateTree]]


def _leaf_mismatch(
    tree: LocalStateTree, root: H4, leafs: dict[str, Any], genesis_copies: bool = False
) -> str:
    """The first leaf whose value differs from `leafs`, or "" when all match.

    With `genesis_copies`, an entry that carries the genesis-only `pvtKey` is a verbatim copy of the
    account's genesis entry (upstream test/block-info.test.js writes one for every genesis account
    the batch did not update, also after earlier batches changed it): its balance and nonce are
    not compared, its storage (dumped from the state) is.
    """
    for address_hex, want in leafs.items():
        address = hex_to_bytes(address_hex, 20)
        checks: list[tuple[str, H4, int]] = []
        copied = genesis_copies and "pvtKey" in want
        if "balance" in want and not copied:
            checks.append(("balance", _balance_key(address), parse_int(want["balance"])))
        if "nonce" in want and not copied:
            checks.append(("nonce", nonce_key(address), parse_int(want["nonce"])))
        if "hashBytecode" in want:
            checks.append(("hashBytecode", code_hash_key(address), parse_int(want["hashBytecode"])))
        if "bytecodeLength" in want:
            checks.append(("bytecodeLength", code_length_key(address), parse_int(want["bytecodeLength"])))
        for slot, value in (want.get("storage") or {}).items():
            checks.append((f"storage[{slot}]", storage_key(address, parse_int(slot)), parse_int(value)))
        got = tree.get_values(root, [key for _, key, _ in checks])
        for (name, _, expected), value in zip(checks, got, strict=True):
            if value != expected:
                return f"{address_hex} {name}: got {value:#x}, expected {expected:#x}"
    return ""


def _compare(
    result: BatchResult, tree: LocalStateTree, want: _Expected, genesis_copies: bool = False
) -> dict[str, tuple[bool, str]]:
    out: dict[str, tuple[bool, str]] = {}

    def hex_check(suite: str, got: bytes, expected: str | None) -> None:
        if expected is not None:
            g = "0x" + got.hex()
            out[suite] = (g == expected.lower(), f"got {g}, expected {expected}")

    hex_check("new-root", result.new_state_root, want.new_root)
    if want.new_batch_num is not None and "new-root" in out and result.new_batch_num != want.new_batch_num:
        out["new-root"] = (False, f"new batch number {result.new_batch_num}, expected {want.new_batch_num}")
    hex_check("new-acc-input-hash", result.new_acc_input_hash, want.acc_input_hash)
    hex_check("new-local-exit-root", result.new_local_exit_root, want.local_exit_root)
    if want.leafs is not None:
        mismatch = _leaf_mismatch(tree, bytes_to_h4(result.new_state_root), want.leafs, genesis_copies)
        out["new-leafs"] = (not mismatch, mismatch)
    return out


def _execute(
    ctx: _Context, case_id: object, run: _Runner, want: _Expected, genesis_copies: bool = False
) -> BatchResult | None:
    """Run one batch the ROM's way and record one case per expected output; where a case fails
    and the compatibility option is on, run it again with the option."""
    try:
        result, tree = run(False)
        comparisons = _compare(result, tree, want, genesis_copies)
    except (ZkevmError, BatchRejected, ValueError, KeyError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        for suite in _expected_suites(want):
            ctx.add(suite, case_id, False, detail)
        return None
    with_compat: dict[str, tuple[bool, str]] | None = None
    for suite, (ok, detail) in comparisons.items():
        if not ok and COMPAT_MISSING_EP in ctx.compat:
            if with_compat is None:
                with_compat = _compare(*run(True), want)
            if with_compat[suite][0]:
                ctx.add(suite, case_id, True, compat_option=COMPAT_MISSING_EP)
                continue
        ctx.add(suite, case_id, ok, detail)
    return result


def _expected_suites(want: _Expected) -> list[str]:
    names = [
        ("new-root", want.new_root),
        ("new-acc-input-hash", want.acc_input_hash),
        ("new-local-exit-root", want.local_exit_root),
        ("new-leafs", want.leafs),
    ]
    return [suite for suite, value in names if value is not None]


def _request(
    *,
    root: H4,
    l2data: str,
    ger: str,
    timestamp: object,
    coinbase: str,
    chain_id: int,
    old_acc: str,
    old_batch_num: int,
    compat: bool,
) -> BatchRequest:
    return BatchRequest(
        old_state_root=h4_to_bytes(root),
        batch_l2_data=hex_to_bytes(l2data),
        global_exit_root=hex_to_bytes(ger, 32),
        timestamp=parse_int(timestamp),  # type: ignore[arg-type]
        coinbase=hex_to_bytes(coinbase, 20),
        chain_id=chain_id,
        old_acc_input_hash=hex_to_bytes(old_acc, 32),
        old_batch_num=old_batch_num,
        allow_missing_last_ep=compat,
    )


def _genesis_tree(entries: list[dict[str, Any]]) -> tuple[LocalStateTree, H4]:
    store = MemoryNodeStore()
    root = build_genesis(_genesis_accounts(entries), store)
    return LocalStateTree(store), root


def _execute_batch_file(ctx: _Context, v: dict[str, Any]) -> None:
    """A processor-style file case: one batch from its genesis."""

    def run(compat: bool) -> tuple[BatchResult, LocalStateTree]:
        tree, root = _genesis_tree(v["genesis"])
        request = _request(
            root=root,
            l2data=v["batchL2Data"],
            ger=v["globalExitRoot"],
            timestamp=v["timestamp"],
            coinbase=v["sequencerAddress"],
            chain_id=v["chainID"],
            old_acc=v.get("oldAccInputHash", "0x" + ZERO_HASH.hex()),
            old_batch_num=0,
            compat=compat,
        )
        return process_batch(request, tree), tree

    want = _Expected(
        new_root=v.get("expectedNewRoot"),
        acc_input_hash=v.get("expectedNewAccInputHash"),
        local_exit_root=v.get("newLocalExitRoot"),
        leafs=v.get("expectedNewLeafs"),
    )
    _execute(ctx, v.get("id", 0), run, want)


def _run_on(tree: LocalStateTree, request: BatchRequest, _compat: bool) -> tuple[BatchResult, LocalStateTree]:
    """A chained batch: always the ROM's way (no chain file needs the compatibility option)."""
    return process_batch(request, tree), tree


def _execute_batch_chain(ctx: _Context, data: dict[str, Any]) -> None:
    """block-info-batches.json / zkevm-db/recursive.json: consecutive batches on one tree."""
    cid = data.get("id", 0)
    tree, root = _genesis_tree(data["genesis"])
    chain_id = int(data.get("chainID", data.get("defaultChainId", 0)))
    acc = data.get("oldAccInputHash", "0x" + ZERO_HASH.hex())
    for n, b in enumerate(data["batches"]):
        l2data = b.get("batchL2Data", b.get("expectedBatchL2Data"))
        if l2data is None:
            return
        request = _request(
            root=root,
            l2data=l2data,
            ger=b.get("globalExitRoot", data.get("globalExitRoot")),
            timestamp=b.get("timestamp", data.get("timestamp")),
            coinbase=data["sequencerAddress"],
            chain_id=chain_id,
            old_acc=acc,
            old_batch_num=n,
            compat=False,
        )
        want = _Expected(
            new_root=b.get("expectedNewRoot"),
            acc_input_hash=b.get("expectedNewAccInputHash"),
            local_exit_root=b.get("newLocalExitRoot", b.get("expectedNewLocalExitRoot")),
            leafs=b.get("expectedNewLeafs"),
            new_batch_num=b.get("expectedNewNumBatch"),
        )
        copies = n > 0 and want.leafs is not None and any("pvtKey" in e for e in want.leafs.values())
        if copies:
            ctx.report.unchecked.append(
                f"{ctx.rel}#{cid}/batch{n}: balance and nonce of the expectedNewLeafs entries copied "
                "from the genesis (upstream test/block-info.test.js copies the genesis entry of every "
                "account the batch did not update)"
            )
        result = _execute(ctx, f"{cid}/batch{n}", functools.partial(_run_on, tree, request), want, copies)
        if result is None:
            return
        root = bytes_to_h4(result.new_state_root)
        acc = "0x" + result.new_acc_input_hash.hex()
    if "finalStateRoot" in data:
        final = _Expected(
            new_root=data["finalStateRoot"],
            acc_input_hash=data.get("finalAccInputHash"),
            local_exit_root=data.get("finalLocalExitRoot"),
            leafs=None if _unchecked(ctx, "finalNewLeafs") else data.get("finalNewLeafs"),
            new_batch_num=data.get("finalNumBatch"),
        )
        with ctx.case("new-root", f"{cid}/final") as c:
            c.expect("0x" + h4_to_bytes(root).hex(), final.new_root)
            c.expect(len(data["batches"]), final.new_batch_num)
        if final.acc_input_hash is not None:
            with ctx.case("new-acc-input-hash", f"{cid}/final") as c:
                c.expect(acc, final.acc_input_hash.lower())
        if final.leafs is not None:
            with ctx.case("new-leafs", f"{cid}/final") as c:
                c.expect(_leaf_mismatch(tree, root, final.leafs), "")


def _unchecked(ctx: _Context, name: str) -> bool:
    """Whether field `name` of this file is in `UNCHECKED_FIELDS` (and note it in the report)."""
    why = next(
        (w for (suffix, f), w in UNCHECKED_FIELDS.items() if ctx.rel.endswith(suffix) and f == name), None
    )
    if why is not None:
        ctx.report.unchecked.append(f"{ctx.rel}: {name} ({why})")
    return why is not None


def _executor_input_store(data: dict[str, Any]) -> MemoryNodeStore:
    """The node store an executor input carries: its `db` nodes and `contractsBytecode`."""
    store = MemoryNodeStore()
    for node_hash, words in data.get("db", {}).items():
        values = [int(w, 16) for w in words]
        values += [0] * (12 - len(values))
        store.put_node(
            hex_to_h4(node_hash if node_hash.startswith("0x") else "0x" + node_hash), tuple(values)
        )
    for code_hash, code in data.get("contractsBytecode", {}).items():
        store.put_program(
            hex_to_h4(code_hash if code_hash.startswith("0x") else "0x" + code_hash), hex_to_bytes(code)
        )
    return store


def _execute_executor_input(ctx: _Context, data: dict[str, Any]) -> None:
    def run(compat: bool) -> tuple[BatchResult, LocalStateTree]:
        tree = LocalStateTree(_executor_input_store(data))
        request = _request(
            root=hex_to_h4(data["oldStateRoot"]),
            l2data=data["batchL2Data"],
            ger=data["globalExitRoot"],
            timestamp=data["timestamp"],
            coinbase=data["sequencerAddr"],
            chain_id=data["chainID"],
            old_acc=data["oldAccInputHash"],
            old_batch_num=data["oldNumBatch"],
            compat=compat,
        )
        return process_batch(request, tree), tree

    def field_(name: str) -> Any:
        return None if _unchecked(ctx, name) else data.get(name)

    want = _Expected(
        new_root=field_("newStateRoot"),
        acc_input_hash=field_("newAccInputHash"),
        local_exit_root=field_("newLocalExitRoot"),
        new_batch_num=data.get("newNumBatch"),
    )
    if want.new_root is None and want.new_batch_num is not None:
        # no root to compare: still check that it runs and numbers the batch as the input says
        want = _Expected(acc_input_hash=want.acc_input_hash, local_exit_root=want.local_exit_root)
    _execute(ctx, "0", run, want)


def _dispatch(ctx: _Context, path: Path, data: Any) -> bool:
    """Feed one parsed file to the suites that recognise it; False when nothing does."""
    name = path.name
    if name == "poseidon_constants.json":
        _poseidon_params(ctx, data)
    elif name == "poseidon_test_vectors.json":
        _poseidon_vectors(ctx, data)
    elif name == "smt-raw.json":
        _smt_raw(ctx, data)
    elif name in _KEY_FUNCS or name == "smt-key-contract-storage.json":
        _state_keys(ctx, data, name)
    elif name == "smt-hash-bytecode.json":
        _bytecode_hashes(ctx, data)
    elif name in ("smt-genesis.json", "smt-full-genesis.json"):
        _genesis_roots(ctx, data)
    elif name == "effective-gas-price.json":
        _effective_gas_price(ctx, data)
    elif isinstance(data, list) and data and isinstance(data[0], dict) and "batches" in data[0]:
        for item in data:
            _multi_batch_file(ctx, item)
    elif isinstance(data, dict) and "batches" in data and "genesis" in data:
        _multi_batch_file(ctx, data)
    elif (
        isinstance(data, list)
        and data
        and isinstance(data[0], dict)
        and {"genesis", "batchL2Data"} <= data[0].keys()
    ):
        _batch_files(ctx, data)
    elif isinstance(data, dict) and {"db", "batchL2Data"} <= data.keys():
        _executor_input(ctx, data)
    else:
        return False
    return True


def vector_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    yield from sorted(p for p in root.rglob("*.json") if p.is_file())


def run_conformance(root: Path, compat: frozenset[str] = frozenset()) -> tuple[Report, list[Path]]:
    """Run every suite on every recognised file under `root`; also returns the files not recognised."""
    report = Report()
    skipped: list[Path] = []
    base = root if root.is_dir() else root.parent
    for path in vector_files(root):
        data = json.loads(path.read_text())
        ctx = _Context(report, path.relative_to(base).as_posix(), compat)
        if not _dispatch(ctx, path, data):
            skipped.append(path)
    return report, skipped


def print_report(report: Report, out: TextIO, verbose: bool = False) -> None:
    for r in report.results:
        if r.status is Status.FAILED or verbose:
            print(f"  {r.status.value} {r.suite} {r.case}{': ' + r.detail if r.detail else ''}", file=out)
    for r in report.results:
        if r.status is Status.DIVERGENT:
            print(f"  divergent {r.suite} {r.case}: quirk {r.quirk} ({r.detail})", file=out)
    for line in report.unchecked:
        print(f"  not compared {line}", file=out)
    for suite in report.suites():
        passed, failed = report.count(Status.PASSED, suite), report.count(Status.FAILED, suite)
        line = f"{suite}: {passed} passed, {failed} failed"
        if suite in report.compat_used:
            line += f" (compat: {', '.join(sorted(report.compat_used[suite]))})"
        print(line, file=out)
    divergent = report.count(Status.DIVERGENT)
    if divergent:
        print(f"divergent: {divergent}", file=out)
    print(f"total: {report.count(Status.PASSED)} passed, {report.count(Status.FAILED)} failed", file=out)
