"""The sequence sender and its L1 watcher: closed batches become *virtual* on L1, and what L1 says
comes back into the StateDB.

::

    StateDB closed batches ──▶ SequenceSender ──Add(sequence:<first>-<last>)──▶ EthTxManager ──▶ L1
        ▲         ▲                 │ pack (packing.py), estimate, split, ≤ MAX_IN_FLIGHT         │
        │         │                 └─ stops on an alarm ◀──┐                                     │
        │         │                                         │ AlarmBoard (alarms.py)              │
        │         └── virtual / verified / forced rows ── L1Watcher ◀── events, calldata ─────────┘
        │                                                   │ accInputHash of every batch checked
        └── the sequencer reads the forced batches          │ (checks.py); reorgs rewound

Modules
-------
    models                 L1Header, L1Tx, SequencedState, Alarm, sequence ids
    ports                  what both components need from L1, the EthTxManager and the StateDB
    packing                which batches fit in one sequenceBatches call (pure)
    checks                 does L1's sequence agree with zkseq's batches (pure)
    sender                 SequenceSender: the sending loop
    watcher                L1Watcher: the L1 reading loop, reorgs
    alarms                 AlarmBoard: the alarm that stops sequencing, its log and metrics
    l1                     Web3L1: the L1 ports over AsyncWeb3
    ethtxmanager_client    GrpcTxManager: the EthTxManager port over ethtxmanager.v1
    servicer, app, config, metrics, __main__   the process around them

Both loops run as tasks of one process (see watcher.py for why) and share nothing but the
AlarmBoard and the StateDB.
"""
