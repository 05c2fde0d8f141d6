"""The sparse Merkle tree of the zkEVM state (spec §3).

A binary tree over 256-bit keys (four field elements) with short-cut leaves: a leaf sits at the
shallowest depth at which no other key shares its path prefix, and keeps the key bits not yet used
by the path (its "remaining key"). The root depends only on the set of (key, non-zero value) pairs.

    node             stored 12 elements (the Poseidon preimage)        hash
    value node       fea8(value) ‖ 0,0,0,0                              H(fea8(value), 0^4)
    leaf             rkey[4] ‖ valueHash[4] ‖ 1,0,0,0                   H(rkey ‖ valueHash, 1,0,0,0)
    intermediate     left[4] ‖ right[4] ‖ 0,0,0,0                       H(left ‖ right, 0^4)

Path bit at depth d: bit (d div 4) of key limb (d mod 4). Value 0 means absent; setting 0 deletes.

Two ways to write:

* `set` changes one key exactly as the reference does (§3.5) and reports what the prover reports:
  the old value, the kind of change and the Poseidon hash count used by the ZK counters (§3.7).
* `set_many` applies a whole write set at once (last write of a key wins) and re-hashes each
  touched node once, however many of the keys pass through it. It produces the same canonical tree
  as applying the writes one by one; tests check that on random write sets.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeAlias

from zkevm.errors import EncodingError, MissingNodeError, TreeError
from zkevm.field import H4, MASK_64, ZERO_H4, Node, fea8_to_scalar, h4_to_hex, scalar_to_fea8
from zkevm.nodestore import NodeStore
from zkevm.poseidon import hash12

MAX_DEPTH: Final = 256
_LEAF_FLAG: Final = 1


def path_bit(key: H4, depth: int) -> int:
    """The child (0 = left, 1 = right) the key goes to at `depth` (§3.2)."""
    return (key[depth & 3] >> (depth >> 2)) & 1


def remove_key_bits(key: H4, n: int) -> H4:
    """The remaining key of a leaf placed after `n` path bits (§3.3, `removeKeyBits`)."""
    full, rem = divmod(n, 4)
    return (
        key[0] >> (full + (rem > 0)),
        key[1] >> (full + (rem > 1)),
        key[2] >> (full + (rem > 2)),
        key[3] >> full,
    )


def join_key(rkey: H4, path_key: H4, n: int) -> H4:
    """The full key of a leaf at depth `n` whose path is that of `path_key` (§3.3, `joinKey`)."""
    full, rem = divmod(n, 4)
    out = []
    for i in range(4):
        m = full + (i < rem)
        out.append((rkey[i] << m) | (path_key[i] & ((1 << m) - 1)))
    return (out[0], out[1], out[2], out[3])


def flip_path_bit(key: H4, depth: int) -> H4:
    limbs = list(key)
    limbs[depth & 3] ^= 1 << (depth >> 2)
    return (limbs[0], limbs[1], limbs[2], limbs[3])


def check_key(key: H4) -> None:
    if len(key) != 4 or not all(isinstance(x, int) and 0 <= x <= MASK_64 for x in key):
        raise EncodingError(f"a tree key is four 64-bit limbs, got {key!r}")


def _is_leaf(node: Node) -> bool:
    return node[8] == _LEAF_FLAG


class SetMode(Enum):
    """What a single `set` did, in the prover's words."""

    UPDATE = "update"
    INSERT_FOUND = "insertFound"  # split an existing leaf
    INSERT_NOT_FOUND = "insertNotFound"  # filled an empty slot
    DELETE_FOUND = "deleteFound"  # removed a leaf, a sibling leaf moved up
    DELETE_NOT_FOUND = "deleteNotFound"  # removed a leaf, nothing moved
    DELETE_LAST = "deleteLast"  # removed the only leaf
    ZERO_TO_ZERO = "zeroToZero"  # deleted an absent key


@dataclass(frozen=True, slots=True)
class SetResult:
    old_root: H4
    new_root: H4
    key: H4
    old_value: int
    new_value: int
    mode: SetMode
    #: Poseidon hashes the ROM charges for this write (§3.7)
    proof_hash_counter: int


@dataclass(frozen=True, slots=True)
class Proof:
    """The path from `root` to where `key` lives: a proof of its value, or of its absence.

    `siblings[d]` is the intermediate node at depth d (left ‖ right, 8 elements). The path ends at a
    leaf (`leaf_rkey`, `leaf_value_hash`), which holds `key` when `value` is non-zero and another key
    otherwise, or at an empty slot (both None).
    """

    root: H4
    key: H4
    value: int
    siblings: tuple[tuple[int, ...], ...]
    leaf_rkey: H4 | None
    leaf_value_hash: H4 | None
    #: Poseidon hashes the ROM charges for reading this key (§3.7)
    proof_hash_counter: int


def value_hash(value: int) -> H4:
    return hash12((*scalar_to_fea8(value), 0, 0, 0, 0))


def verify_proof(proof: Proof) -> bool:
    """Whether `proof` shows that `proof.key` has `proof.value` under `proof.root`."""
    depth = len(proof.siblings)
    if proof.leaf_rkey is None or proof.leaf_value_hash is None:
        if proof.value != 0 or (proof.leaf_rkey, proof.leaf_value_hash) != (None, None):
            return False
        h = ZERO_H4
    else:
        holds_key = proof.leaf_rkey == remove_key_bits(proof.key, depth)
        if proof.value != 0:
            if not holds_key or proof.leaf_value_hash != value_hash(proof.value):
                return False
        elif holds_key:
            return False
        h = hash12((*proof.leaf_rkey, *proof.leaf_value_hash, 1, 0, 0, 0))
    for d in range(depth - 1, -1, -1):
        sib = proof.siblings[d]
        if len(sib) != 8:
            return False
        child = sib[4:8] if path_bit(proof.key, d) else sib[0:4]
        if child != h:
            return False
        h = hash12((*sib, 0, 0, 0, 0))
    return h == proof.root


def _left(node: Node) -> H4:
    return node[0:4]  # type: ignore[return-value]


def _right(node: Node) -> H4:
    return node[4:8]  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class _PendingLeaf:
    """A leaf produced while applying a write set, not stored yet: its depth, and so its remaining
    key, is known only once the parents have decided whether it moves up."""

    full_key: H4
    value_hash: H4


# A subtree while applying a write set: empty, a pending leaf, or the hash of an intermediate node.
_Sub: TypeAlias = _PendingLeaf | H4 | None


class SparseMerkleTree:
    """Reads and writes the state tree held in a `NodeStore`. The tree object itself is stateless:
    every call names the root it works on, so any number of roots share one store."""

    __slots__ = ("_hash", "store")

    def __init__(self, store: NodeStore, hasher: Callable[[Node], H4] = hash12) -> None:
        """`hasher` is the Poseidon permutation (`zkevm.poseidon.hash12`); benchmarks pass the
        pure-Python twin to measure what the C extension buys."""
        self.store = store
        self._hash = hasher

    # -- storage helpers ------------------------------------------------------------------

    def _load(self, node_hash: H4) -> Node:
        node = self.store.get_node(node_hash)
        if node is None:
            raise MissingNodeError(h4_to_hex(node_hash))
        return node

    def _save(self, node: Node) -> H4:
        h = self._hash(node)
        self.store.put_node(h, node)
        return h

    def _save_value(self, value: int) -> H4:
        return self._save((*scalar_to_fea8(value), 0, 0, 0, 0))

    def _save_leaf(self, rkey: H4, valh: H4) -> H4:
        return self._save((*rkey, *valh, 1, 0, 0, 0))

    def _leaf_value(self, node: Node) -> int:
        return fea8_to_scalar(self._load(node[4:8])[0:8])  # type: ignore[arg-type]

    # -- reads -----------------------------------------------------------------------------

    def get(self, root: H4, key: H4) -> int:
        """The value of `key` under `root` (0 when absent)."""
        h = root
        depth = 0
        while h != ZERO_H4:
            node = self._load(h)
            if node[8] == _LEAF_FLAG:
                if node[0:4] == remove_key_bits(key, depth):
                    return self._leaf_value(node)
                return 0
            h = node[4:8] if (key[depth & 3] >> (depth >> 2)) & 1 else node[0:4]  # type: ignore[assignment]
            depth += 1
            if depth > MAX_DEPTH:
                raise TreeError(f"path of key {key} is deeper than {MAX_DEPTH}: corrupt node store")
        return 0

    def get_proof(self, root: H4, key: H4) -> Proof:
        """The value of `key` and the path that proves it (§3.4)."""
        check_key(key)
        siblings: list[tuple[int, ...]] = []
        h = root
        depth = 0
        leaf: Node | None = None
        while h != ZERO_H4:
            node = self._load(h)
            if _is_leaf(node):
                leaf = node
                break
            siblings.append(node[0:8])
            h = node[4:8] if path_bit(key, depth) else node[0:4]  # type: ignore[assignment]
            depth += 1
            if depth > MAX_DEPTH:
                raise TreeError(f"path of key {key} is deeper than {MAX_DEPTH}: corrupt node store")
        value = 0
        counter = 0 if root == ZERO_H4 else len(siblings)
        if leaf is not None:
            if leaf[0:4] == remove_key_bits(key, depth):
                value = self._leaf_value(leaf)
            counter += 2
        return Proof(
            root=root,
            key=key,
            value=value,
            siblings=tuple(siblings),
            leaf_rkey=None if leaf is None else leaf[0:4],  # type: ignore[arg-type]
            leaf_value_hash=None if leaf is None else leaf[4:8],  # type: ignore[arg-type]
            proof_hash_counter=counter,
        )

    # -- single write, exactly as the reference (§3.5) -------------------------------------

    def set(self, root: H4, key: H4, value: int) -> SetResult:
        check_key(key)
        if value < 0 or value >> 256:
            raise EncodingError(f"a tree value is a uint256, got {value}")
        siblings: list[Node] = []
        h = root
        depth = 0
        found: Node | None = None
        get_node = self.store.get_node
        while h != ZERO_H4:
            node = get_node(h)
            if node is None:
                raise MissingNodeError(h4_to_hex(h))
            if node[8] == _LEAF_FLAG:
                found = node
                break
            siblings.append(node)
            h = node[4:8] if (key[depth & 3] >> (depth >> 2)) & 1 else node[0:4]  # type: ignore[assignment]
            depth += 1
            if depth > MAX_DEPTH:
                raise TreeError(f"path of key {key} is deeper than {MAX_DEPTH}: corrupt node store")

        counter = 0 if root == ZERO_H4 else len(siblings) + (2 if found is not None else 0)
        same_key = found is not None and found[0:4] == remove_key_bits(key, depth)
        old_value = self._leaf_value(found) if same_key and found is not None else 0

        def result(new_root: H4, mode: SetMode, count: int) -> SetResult:
            return SetResult(root, new_root, key, old_value, value, mode, count)

        if value == 0 and old_value == 0:
            return result(root, SetMode.ZERO_TO_ZERO, counter)

        top = depth - 1  # deepest intermediate node to re-hash
        if value != 0:
            if found is not None and same_key:
                mode = SetMode.UPDATE
                child = self._save_leaf(found[0:4], self._save_value(value))  # type: ignore[arg-type]
                counter += 2
            elif found is not None:
                mode = SetMode.INSERT_FOUND
                found_key = join_key(found[0:4], key, depth)  # type: ignore[arg-type]
                split = depth
                while path_bit(key, split) == path_bit(found_key, split):
                    split += 1
                new_leaf = self._save_leaf(remove_key_bits(key, split + 1), self._save_value(value))
                old_leaf = self._save_leaf(remove_key_bits(found_key, split + 1), found[4:8])  # type: ignore[arg-type]
                if path_bit(key, split):
                    child = self._save((*old_leaf, *new_leaf, 0, 0, 0, 0))
                else:
                    child = self._save((*new_leaf, *old_leaf, 0, 0, 0, 0))
                for d in range(split - 1, depth - 1, -1):
                    if path_bit(key, d):
                        child = self._save((0, 0, 0, 0, *child, 0, 0, 0, 0))
                    else:
                        child = self._save((*child, 0, 0, 0, 0, 0, 0, 0, 0))
                counter += 4 + (split - depth)
            else:
                mode = SetMode.INSERT_NOT_FOUND
                child = self._save_leaf(remove_key_bits(key, depth), self._save_value(value))
                counter += 2
        else:
            # delete an existing key (value == 0 != old_value)
            if depth == 0:
                return result(ZERO_H4, SetMode.DELETE_LAST, counter)
            level = depth - 1
            sib = siblings[level]
            other: H4 = sib[0:4] if path_bit(key, level) else sib[4:8]  # type: ignore[assignment]
            other_node = self._load(other) if other != ZERO_H4 else None
            if other_node is not None and _is_leaf(other_node):
                mode = SetMode.DELETE_FOUND
                up = level - 1
                while up >= 0:
                    anc = siblings[up]
                    off: H4 = anc[0:4] if path_bit(key, up) else anc[4:8]  # type: ignore[assignment]
                    if off != ZERO_H4:
                        break
                    up -= 1
                other_key = join_key(other_node[0:4], flip_path_bit(key, level), depth)  # type: ignore[arg-type]
                child = self._save_leaf(remove_key_bits(other_key, up + 1), other_node[4:8])  # type: ignore[arg-type]
                counter += 3
                top = up
            else:
                mode = SetMode.DELETE_NOT_FOUND
                child = ZERO_H4

        put_node = self.store.put_node
        hasher = self._hash
        for d in range(top, -1, -1):
            node = siblings[d]
            if (key[d & 3] >> (d >> 2)) & 1:
                preimage = (*node[0:4], *child, 0, 0, 0, 0)
            else:
                preimage = (*child, *node[4:8], 0, 0, 0, 0)
            child = hasher(preimage)
            put_node(child, preimage)
        counter += top + 1
        return result(child, mode, counter)

    # -- write sets ------------------------------------------------------------------------

    def set_many(self, root: H4, writes: Iterable[tuple[H4, int]]) -> H4:
        """Apply every (key, value) write to `root` and return the new root (last write of a key wins)."""
        pending: dict[H4, H4 | None] = {}
        for key, value in writes:
            check_key(key)
            if value < 0 or value >> 256:
                raise EncodingError(f"a tree value is a uint256, got {value}")
            pending[key] = self._save_value(value) if value else None
        if not pending:
            return root
        return self._materialize(self._update(root, 0, list(pending.items())), 0)

    def _materialize(self, sub: _Sub, depth: int) -> H4:
        if sub is None:
            return ZERO_H4
        if isinstance(sub, _PendingLeaf):
            return self._save_leaf(remove_key_bits(sub.full_key, depth), sub.value_hash)
        return sub

    def _update(self, h: H4, depth: int, items: list[tuple[H4, H4 | None]]) -> _Sub:
        if depth > MAX_DEPTH:
            raise TreeError(f"path deeper than {MAX_DEPTH}: corrupt node store")
        if len(items) == 1 and items[0][1] is not None:
            return self._write_one(h, depth, items[0][0], items[0][1])
        if h == ZERO_H4:
            return self._build(depth, [_PendingLeaf(k, v) for k, v in items if v is not None])
        node = self._load(h)
        if _is_leaf(node):
            entries: dict[H4, H4] = {join_key(_left(node), items[0][0], depth): _right(node)}
            for k, v in items:
                if v is None:
                    entries.pop(k, None)
                else:
                    entries[k] = v
            return self._build(depth, [_PendingLeaf(k, v) for k, v in entries.items()])
        left_items = [it for it in items if not path_bit(it[0], depth)]
        right_items = [it for it in items if path_bit(it[0], depth)]
        left = self._update(_left(node), depth + 1, left_items) if left_items else _left(node)
        right = self._update(_right(node), depth + 1, right_items) if right_items else _right(node)
        # an untouched child that now stands alone may be a leaf that has to move up
        if left is None and not right_items and right != ZERO_H4:
            right = self._as_sub(_right(node), flip_path_bit(items[0][0], depth), depth + 1)
        if right is None and not left_items and left != ZERO_H4:
            left = self._as_sub(_left(node), flip_path_bit(items[0][0], depth), depth + 1)
        return self._combine(left, right, depth)

    def _write_one(self, h: H4, depth: int, key: H4, valh: H4) -> _Sub:
        """One non-zero write into the subtree `h` at `depth`: the hot path of small write sets.

        Walks down once and re-hashes the path once, like `set`. A non-zero write never empties a
        subtree, so only the bottom can produce a lone leaf (returned pending, for the parents to
        place); an intermediate node on the path stays intermediate."""
        get_node = self.store.get_node
        path: list[Node] = []
        d = depth
        node: Node | None = None
        while h != ZERO_H4:
            node = get_node(h)
            if node is None:
                raise MissingNodeError(h4_to_hex(h))
            if node[8] == _LEAF_FLAG:
                break
            path.append(node)
            h = node[4:8] if (key[d & 3] >> (d >> 2)) & 1 else node[0:4]  # type: ignore[assignment]
            d += 1
            if d > MAX_DEPTH:
                raise TreeError(f"path of key {key} is deeper than {MAX_DEPTH}: corrupt node store")
        else:
            node = None
        child: H4
        if node is None or node[0:4] == remove_key_bits(key, d):
            if not path:
                return _PendingLeaf(key, valh)
            child = self._save_leaf(remove_key_bits(key, d), valh)
        else:
            # another key's leaf: split it (two distinct leaves always build an intermediate node)
            found = _PendingLeaf(join_key(_left(node), key, d), _right(node))
            split = self._build(d, [found, _PendingLeaf(key, valh)])
            if not path:
                return split
            child = split  # type: ignore[assignment]
        hasher = self._hash
        put_node = self.store.put_node
        for i in range(len(path) - 1, -1, -1):
            dd = depth + i
            sib = path[i]
            if (key[dd & 3] >> (dd >> 2)) & 1:
                preimage = (*sib[0:4], *child, 0, 0, 0, 0)
            else:
                preimage = (*child, *sib[4:8], 0, 0, 0, 0)
            child = hasher(preimage)
            put_node(child, preimage)
        return child

    def _as_sub(self, h: H4, path_key: H4, depth: int) -> _Sub:
        node = self._load(h)
        if _is_leaf(node):
            return _PendingLeaf(join_key(_left(node), path_key, depth), _right(node))
        return h

    def _build(self, depth: int, leaves: list[_PendingLeaf]) -> _Sub:
        if not leaves:
            return None
        if len(leaves) == 1:
            return leaves[0]
        if depth >= MAX_DEPTH:
            raise TreeError("two distinct keys share all 256 path bits")
        left = [e for e in leaves if not path_bit(e.full_key, depth)]
        right = [e for e in leaves if path_bit(e.full_key, depth)]
        return self._combine(self._build(depth + 1, left), self._build(depth + 1, right), depth)

    def _combine(self, left: _Sub, right: _Sub, depth: int) -> _Sub:
        """The subtree at `depth` with these children, in canonical form: a lone leaf moves up, a
        lone intermediate node keeps a single-child parent."""
        if left is None or left == ZERO_H4:
            if right is None or right == ZERO_H4:
                return None
            if isinstance(right, _PendingLeaf):
                return right
            return self._save((0, 0, 0, 0, *right, 0, 0, 0, 0))
        if right is None or right == ZERO_H4:
            if isinstance(left, _PendingLeaf):
                return left
            return self._save((*left, 0, 0, 0, 0, 0, 0, 0, 0))
        lh = self._materialize(left, depth + 1)
        rh = self._materialize(right, depth + 1)
        return self._save((*lh, *rh, 0, 0, 0, 0))
