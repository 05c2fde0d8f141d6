"""The chain of state roots of a batch (spec §6.6).

Every included transaction n ends with two tree updates, one after the other:

    R_n = root of (S_{n-1} + the transaction's write set + system slot 0 = n)
    S_n = root of (R_n + system slot keccak(n ‖ 1) = R_n)          the state root after tx n

`RootChain` applies them in order on the batch's `StateTree`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.executor.state import StateTree
from zkevm.field import H4, h4_to_int


class RootChain:
    def __init__(self, tree: StateTree, root: H4) -> None:
        self.tree = tree
        self.root = root

    def apply(
        self, writes: Sequence[tuple[H4, int]], tx: int, programs: Mapping[H4, bytes] | None = None
    ) -> H4:
        """The root after `writes` of transaction `tx` (0: the GER write); `programs` (new bytecode)
        are stored first."""
        if programs:
            self.tree.put_programs(programs)
        self.root = self.tree.set_values(self.root, writes, tx)
        return self.root

    def record_root(self, key: H4, tx: int) -> H4:
        """Write the current root's integer value under `key` (the root the system contract records)
        and return the state root after it."""
        recorded = self.root
        self.root = self.tree.set_values(recorded, [(key, h4_to_int(recorded))], tx)
        return self.root
