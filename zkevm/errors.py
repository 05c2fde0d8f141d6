"""The exception hierarchy of the protocol core.

Every error that bad input can cause is a subclass of `ZkevmError` and its message names the problem,
so services can map it to a clear gRPC / JSON-RPC error without parsing strings.

    ZkevmError
    ├── EncodingError            a value does not fit its encoding (hex, field element, width)
    ├── DecodeError              bytes that are not a valid fork-6 transaction or batch
    │   ├── RLPError             malformed or non-canonical RLP (spec §5.1 parsing rules)
    │   └── TxFieldError         a well-formed RLP field with an invalid value (width, chain id …)
    ├── InvalidSignatureError    r / s / v out of range or no public key recoverable (§5.2)
    └── TreeError                the sparse Merkle tree cannot do what was asked
        └── MissingNodeError     a node the walk needs is not in the node store (unknown root)
"""


class ZkevmError(Exception):
    """Base class of every error raised by `zkevm`."""


class EncodingError(ZkevmError, ValueError):
    """A value does not fit the encoding it was given to (not hex, wrong length, not a field element)."""


class DecodeError(ZkevmError, ValueError):
    """Bytes that are not a valid fork-6 transaction record or batchL2Data.

    `offset` is the byte position in the input where the problem was found.
    """

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.reason = message
        self.offset = offset


class RLPError(DecodeError):
    """Malformed or non-canonical RLP."""


class TxFieldError(DecodeError):
    """A transaction field that parsed but has a value the protocol does not allow."""


class InvalidSignatureError(ZkevmError, ValueError):
    """A signature that the zkEVM does not accept (§5.2), or from which no sender can be recovered."""


class TreeError(ZkevmError):
    """The sparse Merkle tree cannot complete an operation."""


class MissingNodeError(TreeError, KeyError):
    """A node needed by a tree walk is not in the node store (for example an unknown root)."""

    def __init__(self, node_hash: str) -> None:
        super().__init__(f"node {node_hash} is not in the node store")
        self.node_hash = node_hash

    def __str__(self) -> str:
        return str(self.args[0])
