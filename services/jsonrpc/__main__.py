"""`python -m services.jsonrpc`: the JSON-RPC server, configured by ZKSEQ_JSONRPC_* (see config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (StateDB, port),
2 for an invalid configuration.
"""

import sys

from services.common.runner import run_service
from services.common.statedb import StateDBError
from services.jsonrpc.app import start_jsonrpc
from services.jsonrpc.config import JsonRpcConfig


def main() -> int:
    return run_service("jsonrpc", JsonRpcConfig.from_env, start_jsonrpc, (StateDBError, OSError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
