"""`python -m services.sequencesender`: the sequence sender and its L1 watcher, configured by
ZKSEQ_SEQUENCESENDER_* (see config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (the StateDB or
the L1 node unreachable, the rollup and the configured global exit root manager disagree, a port
taken), 2 for an invalid configuration. An alarm does not end the process: it stops sending and
is reported by the status RPC, the `sequencing_alarm` log line and the metrics, while the watcher
keeps recording what L1 says.
"""

import sys

from services.common.errors import ServiceError
from services.common.runner import run_service
from services.common.statedb import StateDBError
from services.sequencesender.app import start_sequencesender
from services.sequencesender.config import SequenceSenderConfig
from services.sequencesender.ports import L1Unavailable


def main() -> int:
    return run_service(
        "sequencesender",
        SequenceSenderConfig.from_env,
        start_sequencesender,
        (ServiceError, StateDBError, L1Unavailable, OSError, ValueError),
    )


if __name__ == "__main__":
    sys.exit(main())
