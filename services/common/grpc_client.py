"""Typed unary gRPC calls with a deadline on every call.

    set_call = UnaryMethod(channel, "/hashdb.v1.HashDBService/Set", pb.SetResponse, timeout_s=5)
    response = await set_call(pb.SetRequest(...))           # deadline: 5 s unless given

Built from the generated `_pb2` messages only, so typed code never touches the untyped `_pb2_grpc`.
"""

from typing import Generic, Protocol, Self, TypeVar

from google.protobuf.message import Message
from grpc import aio


class _Parsable(Protocol):
    @classmethod
    def FromString(cls, data: bytes) -> Self: ...  # noqa: N802  (protobuf's name)


Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=_Parsable)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


class UnaryMethod(Generic[Req, Resp]):
    """One unary method of a service on a channel; every call has a deadline."""

    __slots__ = ("_call", "path", "timeout_s")

    def __init__(self, channel: aio.Channel, path: str, response: type[Resp], timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._call = channel.unary_unary(
            path, request_serializer=_serialize, response_deserializer=response.FromString
        )

    async def __call__(self, request: Req, timeout_s: float | None = None) -> Resp:
        response: Resp = await self._call(request, timeout=self.timeout_s if timeout_s is None else timeout_s)
        return response
