"""Typed errors a servicer or domain code raises to reject a request.

Each class carries the gRPC status code it is answered with; the message is sent to the client as
the status details, so it must say what is wrong with the request in words a caller can act on.
`interceptors.ErrorMappingInterceptor` does the translation, so domain code never touches gRPC
contexts.
"""

from typing import ClassVar

import grpc


class ServiceError(Exception):
    """A request that cannot be served, answered with `code` and this message."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL


class InvalidArgument(ServiceError):
    """The request itself is malformed (bad encoding, value out of range, inconsistent fields)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    """The request names something this service does not have (a root, a hash, an id)."""

    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServiceError):
    """The request is well formed but the service is not in a state to serve it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class OutOfRange(ServiceError):
    """The request asks for something outside what the service still holds."""

    code = grpc.StatusCode.OUT_OF_RANGE


class Unavailable(ServiceError):
    """A backing server (database, node) cannot be reached; the call may be retried."""

    code = grpc.StatusCode.UNAVAILABLE


class Unimplemented(ServiceError):
    """The method exists in the wire contract but this service does not provide it."""

    code = grpc.StatusCode.UNIMPLEMENTED
