"""zkevm — the Polygon zkEVM fork-6 protocol core shared by every zkseq service.

Pure, synchronous, fully typed. One concept per module:

    field        Goldilocks field; 256-bit value <-> field-element encodings (spec §2)
    poseidon     Poseidon hash (C extension) and its pure-Python twin `poseidon_ref` (§1)
    smt          the sparse Merkle tree: get / set / delete / proofs over a node store (§3)
    nodestore    the node-store interface and its in-memory implementation (§3.6)
    state_keys   keys of balance, nonce, code hash, code length and storage leaves (§4.1)
    bytecode     the linear-Poseidon bytecode hash (§4.3)
    rlp          the strict RLP reader used by the transaction codec (§5.1 parsing rules)
    transaction  L2 transactions: batchL2Data codec, sender recovery, hashes, effective gas price (§5)
    batch        batchHashData and accInputHash (§5.4)
    genesis      a state root from a list of accounts (§4.2)
    errors       the exception hierarchy

Section numbers refer to shared/spec/fork6-state-spec.md.
"""
