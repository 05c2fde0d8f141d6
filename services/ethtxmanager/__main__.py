"""`python -m services.ethtxmanager`: the EthTxManager, configured by ZKSEQ_ETHTXMANAGER_* (config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (L1 node,
StateDB, port), 2 for an invalid configuration.
"""

import sys

from services.common.runner import run_service
from services.ethtxmanager.app import StartupError, start_ethtxmanager
from services.ethtxmanager.config import EthTxManagerConfig


def main() -> int:
    return run_service(
        "ethtxmanager", EthTxManagerConfig.from_env, start_ethtxmanager, (StartupError, OSError)
    )


if __name__ == "__main__":
    sys.exit(main())
