"""The alarm that stops sequencing: raised by the L1 watcher (or the sender's own pre-send check),
read by the sender before every send and by the status RPC.

The first alarm stands until the process restarts; later ones are logged and counted but do not
replace it (after one disagreement every later accInputHash disagrees too: the hashes chain).
A restart does not silently clear it: before sending anything the sender compares L1's
accInputHash at `lastBatchSequenced` with its own, and raises the alarm again if they differ.
"""

from __future__ import annotations

from services.common.logs import EventLogger
from services.sequencesender.metrics import SequenceSenderMetrics
from services.sequencesender.models import Alarm, AlarmKind

#: the kinds that mean "L1's accInputHash chain is not ours"
_CHAIN_KINDS = frozenset({AlarmKind.ACC_INPUT_HASH_MISMATCH, AlarmKind.UNKNOWN_BATCH})


class AlarmBoard:
    def __init__(self, metrics: SequenceSenderMetrics, log: EventLogger) -> None:
        self._metrics = metrics
        self._log = log
        self._alarm: Alarm | None = None
        metrics.acc_input_hash_mismatch.set(0)
        metrics.stopped.set(0)

    @property
    def alarm(self) -> Alarm | None:
        return self._alarm

    @property
    def stopped(self) -> bool:
        return self._alarm is not None

    def raise_alarm(self, alarm: Alarm) -> None:
        """Stop sequencing (if not stopped yet), log an ERROR and set the metrics."""
        self._metrics.alarms.labels(alarm.kind.value).inc()
        self._log.error(
            "sequencing_alarm",
            kind=alarm.kind.value,
            batch_number=alarm.batch_number,
            local_hash=None if alarm.local_hash is None else "0x" + alarm.local_hash.hex(),
            l1_hash=None if alarm.l1_hash is None else "0x" + alarm.l1_hash.hex(),
            l1_block_number=alarm.l1_block_number,
            l1_tx_hash=None if alarm.l1_tx_hash is None else "0x" + alarm.l1_tx_hash.hex(),
            message=alarm.message,
            first=self._alarm is None,
        )
        if alarm.kind in _CHAIN_KINDS:
            self._metrics.acc_input_hash_mismatch.set(1)
        if self._alarm is None:
            self._alarm = alarm
            self._metrics.stopped.set(1)
