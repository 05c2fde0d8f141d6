"""`python -m services.executor`: the executor service, configured by ZKSEQ_EXECUTOR_* (config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (port),
2 for an invalid configuration.
"""

import sys

from services.common.runner import run_service
from services.executor.app import start_executor
from services.executor.config import ExecutorConfig

#: how long a thread may hold the GIL while another waits (CPython's default is 5 ms): the batch
#: thread calls C code that releases the GIL (secp256k1, Poseidon) thousands of times a second,
#: and must not wait 5 ms each time the flush or gRPC threads hold it
SWITCH_INTERVAL_S = 0.0005


def main() -> int:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return run_service("executor", ExecutorConfig.from_env, start_executor)


if __name__ == "__main__":
    sys.exit(main())
