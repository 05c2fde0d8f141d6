"""Several executor replicas presented to the sequencer as ONE logical `ports.Executor`.

    finalizer, recorder ──▶ ReplicatedExecutor ──▶ replica A (GrpcExecutor, its own channel)
                             own flush ids,      ──▶ replica B
                             own prover_id       ──▶ …   (a list of host:port, or dns:///name:port
                                                          re-resolved every `refresh_s`)

Why a composite and not a round_robin channel: flush ids and `prover_id` are per executor process
(fork-6 GetFlushStatus), and the recorder waits until "the executor" reports a job's flush stored.
Over a load-balanced channel, flush id 7 of replica A and flush id 7 of replica B would be one
number, and GetFlushStatus would answer for whichever replica the call reached. So the composite:

  * gives every answer its OWN flush id (1, 2, 3 … across all replicas) and remembers, for each
    one not yet stored, (replica, the replica's prover_id, the replica's flush id);
  * reports as stored the largest own id such that every answer up to it is stored on its replica
    (it polls GetFlushStatus only on the replicas that hold unstored flushes, concurrently);
  * has a `prover_id` of its own, "<random>-<generation>". When a replica restarts (its prover_id
    changes) or is lost (unreachable for `lost_after_s`, or gone from DNS) while it holds unstored
    flushes, the generation moves on: the recorder's existing path sees another prover_id on its
    next poll and executes again, in order, every job not yet recorded — nothing executed is lost
    (the replay must give the same root) and nothing is written twice. Answers of healthy replicas
    are replayed too: correct, only extra work, and a restart is rare.

Spreading (`spread`), measured end to end by bench/bench_replicas.py (600 transfers through the
whole sequencer, two executors, 2-core machine shared with other work; throughput against one
executor): primary 0.93-1.07x, affinity 0.74-0.84x, round_robin 0.42-0.55x.

  primary      (default) every call to one replica while it answers; the others stand by, take
               over when it fails, and serve JSON-RPC. A closed batch's re-execution there finds
               every node of the batch in that replica's cache.
  affinity     the chain of pre-executions (each call on the root the previous one built,
               update_merkle_tree = 1) stays on one replica; calls that keep nothing (a closed
               batch's re-execution, update_merkle_tree = 0) go to the least busy other replica.
               Slower here: that replica has none of the batch's nodes (a call that keeps nothing
               caches nothing), so it fetches every path from the HashDB, after waiting for the
               chain replica's flush of the batch's start root, and the recorder closes batches in
               order, so a slower close holds up the writes behind it. With spare cores per
               replica and a HashDB with headroom it may pay; measure before choosing it.
  round_robin  every call to the next replica: each call meets a root the other replica built and
               is still flushing (up to the executor's ROOT_WAIT_S) and nodes its cache lacks. The
               chain is strictly sequential, so spreading it buys no parallelism. (The JSON-RPC
               server, whose calls are independent, uses gRPC's own round_robin instead.)

A replica that fails a call with UNAVAILABLE (or another retryable status) is marked down, skipped
for `retry_down_s`, and the call is tried on another replica at once; the caller sees
`ExecutorUnavailable` only when no replica answered. An answer that is part of the protocol
(an executor error such as DB_ERROR) is returned as it is: the caller's own retry handles it.

The composite is generic over the port: it forwards whatever request `process` takes, and changes
only the flush fields of the answer (`dataclasses.replace`), so fields added to `ExecRequest` or
`ExecResult` pass through.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import ipaddress
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from services.common.logs import EventLogger
from services.sequencer.outcomes import call_outcome
from services.sequencer.ports import ExecRequest, ExecResult, Executor, ExecutorUnavailable, FlushStatus

DNS_SCHEME: Final = "dns:///"
#: a failed resolution or a failed replica triggers a new resolution, at most this often
MIN_REFRESH_S: Final = 1.0


class TargetError(ValueError):
    """An executor target that is not host:port, a list of them, or dns:///name:port."""


class Spread(enum.StrEnum):
    AFFINITY = "affinity"
    PRIMARY = "primary"
    ROUND_ROBIN = "round_robin"


# -- targets --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecutorTargets:
    """Where the replicas are: a fixed list of host:port, or a DNS name resolved again and again."""

    addresses: tuple[str, ...] = ()
    dns_host: str = ""
    dns_port: int = 0

    @property
    def is_dns(self) -> bool:
        return bool(self.dns_host)

    def describe(self) -> str:
        return f"{DNS_SCHEME}{self.dns_host}:{self.dns_port}" if self.is_dns else ",".join(self.addresses)


def _host_port(text: str, what: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise TargetError(f"{what} {text!r} is not host:port")
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise TargetError(f"{what} {text!r}: the port must be 1..65535")
    if host.startswith("["):
        if not host.endswith("]"):
            raise TargetError(f"{what} {text!r}: an IPv6 host must be in brackets, [::1]:50071")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError as exc:
            raise TargetError(f"{what} {text!r}: {host} is not an IPv6 address") from exc
    elif ":" in host:
        raise TargetError(f"{what} {text!r}: an IPv6 host must be in brackets, [::1]:50071")
    elif any(c.isspace() or c == "/" for c in host):
        raise TargetError(f"{what} {text!r}: {host!r} is not a host name")
    return host, int(port_text)


def parse_executor_targets(text: str) -> ExecutorTargets:
    """`host:port`, `host:port,host:port,…` or `dns:///name:port`; `TargetError` names the problem."""
    raw = text.strip()
    if not raw:
        raise TargetError("no executor target: give host:port, a comma-separated list, or dns:///name:port")
    if "://" in raw:
        if not raw.startswith(DNS_SCHEME):
            raise TargetError(f"{raw!r}: the only scheme understood is {DNS_SCHEME}name:port")
        rest = raw[len(DNS_SCHEME) :]
        if "," in rest:
            raise TargetError(f"{raw!r}: a dns:/// target names one DNS name, not a list")
        host, port = _host_port(rest, "dns target")
        return ExecutorTargets(dns_host=host.strip("[]"), dns_port=port)
    parts = [p.strip() for p in raw.split(",")]
    if any(not p for p in parts):
        raise TargetError(f"{raw!r}: an empty entry in the list")
    addresses = []
    for part in parts:
        host, port = _host_port(part, "executor address")
        address = f"{host}:{port}"
        if address in addresses:
            raise TargetError(f"{raw!r}: {address} is listed twice")
        addresses.append(address)
    return ExecutorTargets(addresses=tuple(addresses))


class Resolver(Protocol):
    async def resolve(self) -> list[str]:
        """The replicas' addresses (host:port) now; raises OSError when the name does not resolve."""
        ...


@dataclass(frozen=True, slots=True)
class StaticResolver:
    addresses: tuple[str, ...]

    async def resolve(self) -> list[str]:
        return list(self.addresses)


@dataclass(frozen=True, slots=True)
class DnsResolver:
    """Every A/AAAA record of a name (a Kubernetes headless Service: one per ready pod)."""

    host: str
    port: int

    async def resolve(self) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        found: list[str] = []
        for family, _, _, _, sockaddr in infos:
            ip = str(sockaddr[0])
            address = f"[{ip}]:{self.port}" if family == socket.AF_INET6 else f"{ip}:{self.port}"
            if address not in found:
                found.append(address)
        return sorted(found)


def resolver_for(targets: ExecutorTargets) -> Resolver:
    if targets.is_dns:
        return DnsResolver(targets.dns_host, targets.dns_port)
    return StaticResolver(targets.addresses)


# -- replicas -------------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplicaPort:
    """One replica's executor port and how to let go of it (closing its channel)."""

    executor: Executor
    close: Callable[[], Awaitable[None]]


#: makes the port of the replica at an address (one gRPC channel each, in app.py)
ReplicaFactory = Callable[[str], ReplicaPort]


@dataclass(eq=False, slots=True)
class _Replica:
    address: str
    port: ReplicaPort
    #: the replica's process as last seen ("" before its first answer)
    prover_id: str = ""
    stored_flush_id: int = 0
    in_flight: int = 0
    calls: int = 0
    #: when the replica failed last (None while it answers), and since when it has been failing
    down_at: float | None = None
    down_since: float | None = None


@dataclass(slots=True)
class _Flush:
    own_id: int
    replica: _Replica
    prover_id: str
    flush_id: int


@dataclass(slots=True)
class ReplicaStats:
    """What the composite counts, for the sequencer's metrics and for tests."""

    generation_changes: dict[str, int] = field(default_factory=dict)
    failovers: int = 0


class ReplicatedExecutor:
    """`ports.Executor` over several replicas (see the module docstring)."""

    def __init__(
        self,
        resolver: Resolver,
        factory: ReplicaFactory,
        *,
        spread: Spread = Spread.PRIMARY,
        refresh_s: float = 30.0,
        lost_after_s: float = 5.0,
        retry_down_s: float = 1.0,
        log: EventLogger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._factory = factory
        self.spread = spread
        self.refresh_s = refresh_s
        self.lost_after_s = lost_after_s
        self.retry_down_s = retry_down_s
        self._log = log or EventLogger("zkseq.sequencer.executors")
        self._clock = clock
        self._replicas: dict[str, _Replica] = {}
        self._next_refresh = float("-inf")
        self._last_refresh = float("-inf")
        self._refresh_lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._base = uuid.uuid4().hex[:12]
        self.generation = 0
        self._last_own_id = 0
        #: own flush ids not yet stored on their replica, oldest first (this generation's only)
        self._unstored: dict[int, _Flush] = {}
        self._chain: _Replica | None = None
        self._turn = 0
        self.stats = ReplicaStats()
        #: told the reason each time the generation moves on (the sequencer counts them)
        self.on_generation: Callable[[str], None] | None = None

    # -- what the finalizer and the recorder call ---------------------------------------------------

    @property
    def prover_id(self) -> str:
        return f"{self._base}-{self.generation}"

    @property
    def addresses(self) -> list[str]:
        return list(self._replicas)

    @property
    def chain_address(self) -> str | None:
        """The replica that carries the chain of pre-executions now (None before the first call)."""
        return None if self._chain is None else self._chain.address

    def calls_by_replica(self) -> dict[str, int]:
        return {address: replica.calls for address, replica in self._replicas.items()}

    def reachable(self) -> int:
        return sum(1 for r in self._replicas.values() if r.down_at is None)

    async def process(self, request: ExecRequest) -> ExecResult:
        await self.refresh()
        tried: list[_Replica] = []
        errors: list[str] = []
        while True:
            replica = self._pick(request, tried)
            if replica is not None and tried:
                self.stats.failovers += 1
            if replica is None:
                if not self._replicas:
                    raise ExecutorUnavailable(f"no executor replica at {self._describe_targets()}")
                raise ExecutorUnavailable("every executor replica failed: " + "; ".join(errors))
            tried.append(replica)
            replica.in_flight += 1
            try:
                result = await replica.port.executor.process(request)
            except ExecutorUnavailable as exc:
                errors.append(f"{replica.address}: {exc}")
                self._failed(replica, exc)
                continue
            finally:
                replica.in_flight -= 1
            replica.calls += 1
            self._answered(replica)
            if self._member(replica):
                self._observe(replica, result.prover_id, result.stored_flush_id)
            return self._adopt(replica, result)

    async def flush_status(self) -> FlushStatus:
        await self.refresh()
        pending: dict[str, _Replica] = {}
        for flush in self._unstored.values():
            pending.setdefault(flush.replica.address, flush.replica)
        if pending:
            replicas = list(pending.values())
            answers = await asyncio.gather(
                *(r.port.executor.flush_status() for r in replicas), return_exceptions=True
            )
            for replica, answer in zip(replicas, answers, strict=True):
                if isinstance(answer, FlushStatus):
                    self._answered(replica)
                    self._observe(replica, answer.prover_id, answer.stored_flush_id)
                elif isinstance(answer, ExecutorUnavailable):
                    self._failed(replica, answer)
                    self._check_lost(replica)
                elif isinstance(answer, BaseException):
                    raise answer
        return FlushStatus(self._stored_watermark(), self.prover_id)

    # -- the replica set ------------------------------------------------------------------------

    async def refresh(self, *, force: bool = False) -> None:
        """Resolve the targets again when due (every `refresh_s`, or soon after a failure)."""
        now = self._clock()
        if not force and now < self._next_refresh:
            return
        async with self._refresh_lock:
            now = self._clock()
            if not force and now < self._next_refresh:
                return
            self._last_refresh = now
            self._next_refresh = now + self.refresh_s
            try:
                addresses = await self._resolver.resolve()
            except OSError as exc:
                self._next_refresh = now + MIN_REFRESH_S
                self._log.warning("executor_resolve_failed", target=self._describe_targets(), error=str(exc))
                return
            self._apply(addresses)

    def _apply(self, addresses: Sequence[str]) -> None:
        if not addresses:
            # an empty answer (no ready pod yet): keep what we have, they fail over as they fail
            self._log.warning("executor_resolved_nothing", target=self._describe_targets())
            self._next_refresh = self._last_refresh + MIN_REFRESH_S
            return
        wanted = list(dict.fromkeys(addresses))
        added = [a for a in wanted if a not in self._replicas]
        removed = [a for a in self._replicas if a not in wanted]
        for address in added:
            self._replicas[address] = _Replica(address, self._factory(address))
        for address in removed:
            replica = self._replicas.pop(address)
            if self._chain is replica:
                self._chain = None
            if any(f.replica is replica for f in self._unstored.values()):
                self._new_generation("replica_gone", replica)
            self._close_later(replica)
        if added or removed:
            self._log.info("executor_replicas", replicas=list(self._replicas), added=added, removed=removed)

    def _close_later(self, replica: _Replica) -> None:
        async def close() -> None:
            while replica.in_flight:
                await asyncio.sleep(0.05)
            await replica.port.close()

        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every replica's channel (the sequencer is stopping)."""
        for task in list(self._closing):
            task.cancel()
        replicas = list(self._replicas.values())
        self._replicas.clear()
        for replica in replicas:
            await replica.port.close()

    def _describe_targets(self) -> str:
        if isinstance(self._resolver, DnsResolver):
            return f"{DNS_SCHEME}{self._resolver.host}:{self._resolver.port}"
        if isinstance(self._resolver, StaticResolver):
            return ",".join(self._resolver.addresses)
        return repr(self._resolver)

    def _member(self, replica: _Replica) -> bool:
        """Still in the set (not removed by a resolution, nor replaced by a new one at its address)."""
        return self._replicas.get(replica.address) is replica

    # -- choosing a replica ---------------------------------------------------------------------

    def _usable(self, exclude: Sequence[_Replica]) -> list[_Replica]:
        """Replicas not yet tried for this call: those up first; a down one whose pause is over is
        tried too; and if every replica is down, all of them (a call must go somewhere)."""
        now = self._clock()
        left = [r for r in self._replicas.values() if r not in exclude]
        up = [r for r in left if r.down_at is None or now - r.down_at >= self.retry_down_s]
        return up or left

    def _pick(self, request: ExecRequest, exclude: Sequence[_Replica]) -> _Replica | None:
        candidates = self._usable(exclude)
        if not candidates:
            return None
        if self.spread is Spread.ROUND_ROBIN:
            self._turn += 1
            return candidates[self._turn % len(candidates)]
        keeps_state = bool(getattr(request, "update_merkle_tree", True))
        if keeps_state or self.spread is Spread.PRIMARY:
            if self._chain is None or self._chain not in candidates:
                healthy = [r for r in candidates if r.down_at is None] or candidates
                self._chain = min(healthy, key=lambda r: r.in_flight)
            return self._chain
        others = [r for r in candidates if r is not self._chain] or candidates
        return min(others, key=lambda r: (r.down_at is not None, r.in_flight, r.calls))

    def _failed(self, replica: _Replica, exc: Exception) -> None:
        now = self._clock()
        if replica.down_at is None:
            replica.down_since = now
            self._log.warning("executor_replica_unavailable", replica=replica.address, error=str(exc))
        replica.down_at = now
        if self._chain is replica:
            self._chain = None
        # a failed replica may have left the Service: resolve again soon
        self._next_refresh = min(self._next_refresh, self._last_refresh + MIN_REFRESH_S)

    def _answered(self, replica: _Replica) -> None:
        if replica.down_at is not None:
            self._log.info("executor_replica_back", replica=replica.address)
        replica.down_at = replica.down_since = None

    def _check_lost(self, replica: _Replica) -> None:
        """An unreachable replica with unstored flushes: after `lost_after_s` they count as lost."""
        if replica.down_since is None or self._clock() - replica.down_since < self.lost_after_s:
            return
        if any(f.replica is replica for f in self._unstored.values()):
            self._new_generation("replica_lost", replica)

    # -- flush ids ------------------------------------------------------------------------------

    def _observe(self, replica: _Replica, prover_id: str, stored_flush_id: int) -> None:
        """A replica's flush status (from a ProcessBatch answer or a GetFlushStatus poll)."""
        if replica.prover_id and prover_id != replica.prover_id:
            self._log.warning(
                "executor_replica_restarted",
                replica=replica.address,
                old_prover_id=replica.prover_id,
                new_prover_id=prover_id,
            )
            if any(f.replica is replica for f in self._unstored.values()):
                self._new_generation("replica_restarted", replica)
            replica.stored_flush_id = 0
        replica.prover_id = prover_id
        replica.stored_flush_id = max(replica.stored_flush_id, stored_flush_id)
        for own_id, flush in list(self._unstored.items()):
            if (
                flush.replica is replica
                and flush.prover_id == prover_id
                and flush.flush_id <= replica.stored_flush_id
            ):
                del self._unstored[own_id]

    def _adopt(self, replica: _Replica, result: ExecResult) -> ExecResult:
        """Give the answer an own flush id and the composite's flush status."""
        prover_id = self.prover_id
        own_id = self._last_own_id
        if call_outcome(result.error) is None:  # served: a flush to follow (an error answer has none)
            self._last_own_id += 1
            own_id = self._last_own_id
            if not self._member(replica) or replica.prover_id != result.prover_id:
                # the replica left the set while the call ran: its flush cannot be followed any
                # more. The answer gets the generation that ends now, so the recorder, polling,
                # finds another prover_id and executes it again.
                self._new_generation("replica_gone", replica)
                prover_id = f"{self._base}-{self.generation - 1}"
            elif result.flush_id > replica.stored_flush_id:
                self._unstored[own_id] = _Flush(own_id, replica, result.prover_id, result.flush_id)
        return dataclasses.replace(
            result, flush_id=own_id, stored_flush_id=self._stored_watermark(), prover_id=prover_id
        )

    def _stored_watermark(self) -> int:
        if self._unstored:
            return min(self._unstored) - 1
        return self._last_own_id

    def _new_generation(self, reason: str, replica: _Replica) -> None:
        lost = len(self._unstored)
        self.generation += 1
        self._unstored.clear()
        self.stats.generation_changes[reason] = self.stats.generation_changes.get(reason, 0) + 1
        self._log.warning(
            "executor_flushes_lost",
            reason=reason,
            replica=replica.address,
            unstored=lost,
            prover_id=self.prover_id,
        )
        if self.on_generation is not None:
            self.on_generation(reason)
