"""JSON-RPC errors: what a method raises to answer with an error object instead of a result.

Codes are the ones go-ethereum and zkevm-node answer with, so that clients (ethers, web3.py, cast)
recognise them:

    -32700  ParseError       the body is not JSON
    -32600  InvalidRequest   not a JSON-RPC 2.0 request object, an empty or too long batch,
                             a body over the size limit
    -32601  MethodNotFound   "the method X does not exist/is not available"
    -32602  InvalidParams    a parameter is missing, malformed or out of range; eth_getLogs bounds
    -32603  InternalError    a bug: the traceback is logged, the client gets no details
    -32000  ServerError      the request is valid but cannot be served: unknown block, a backend
                             that is down, a transaction the pool refused (with the pool's words)
    -32003  ResponseTooLarge a batch whose answers together exceed the response size limit
         3  ExecutionReverted  eth_call / eth_estimateGas hit REVERT; `data` is the revert data

A method never builds error objects itself: it raises one of these and the dispatcher answers.
"""

from __future__ import annotations

from typing import ClassVar

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
RESPONSE_TOO_LARGE = -32003
EXECUTION_REVERTED = 3


class RpcError(Exception):
    """An error answer: `code`, a message for the caller, and optional `data` (hex for reverts)."""

    code: ClassVar[int] = SERVER_ERROR
    #: the metrics label of the outcome (bounded)
    outcome: ClassVar[str] = "server_error"

    def __init__(self, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ParseError(RpcError):
    code = PARSE_ERROR
    outcome = "parse_error"


class InvalidRequest(RpcError):
    code = INVALID_REQUEST
    outcome = "invalid_request"


class MethodNotFound(RpcError):
    code = METHOD_NOT_FOUND
    outcome = "method_not_found"


class InvalidParams(RpcError):
    code = INVALID_PARAMS
    outcome = "invalid_params"


class InternalError(RpcError):
    code = INTERNAL_ERROR
    outcome = "internal_error"


class ServerError(RpcError):
    code = SERVER_ERROR
    outcome = "server_error"


class ResponseTooLarge(RpcError):
    code = RESPONSE_TOO_LARGE
    outcome = "response_too_large"


class ExecutionReverted(RpcError):
    code = EXECUTION_REVERTED
    outcome = "reverted"


class BackendUnavailable(ServerError):
    """A backend (StateDB, HashDB, pool, executor) could not answer; the caller may retry."""

    outcome = "unavailable"
