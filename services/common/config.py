"""Configuration from ZKSEQ_<SERVICE>_* environment variables, validated at start-up.

A service declares its settings as a frozen dataclass whose field defaults are the one place its
defaults live, and reads them through an `EnvReader`:

    env = EnvReader("ZKSEQ_HASHDB_", os.environ)
    port = env.integer("GRPC_PORT", 50061, minimum=0, maximum=65535)
    ...
    env.finish()        # raises ConfigError listing every problem, including unknown variables

Every problem is collected before failing, so one start-up attempt shows all of them. A variable
that carries the service prefix but is not a known setting is an error too: a typo must not
silently leave a default in place.
"""

import math
from collections.abc import Iterable, Mapping
from typing import Final, TypeVar

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})

_Num = TypeVar("_Num", int, float)


class ConfigError(Exception):
    """The environment does not describe a valid configuration; the message lists every problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))


class EnvReader:
    """Typed reads of `<prefix><NAME>` variables with defaults; problems accumulate until `finish`."""

    def __init__(self, prefix: str, environ: Mapping[str, str]) -> None:
        self.prefix = prefix
        self._environ = environ
        self._known: set[str] = set()
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        full = self.prefix + name
        self._known.add(full)
        value = self._environ.get(full)
        return None if value is None else value.strip()

    def problem(self, name: str, message: str) -> None:
        """Record a problem found by a check of the caller's own (for example between two settings)."""
        self.problems.append(f"{self.prefix}{name}: {message}")

    def string(self, name: str, default: str) -> str:
        raw = self._raw(name)
        return default if raw is None else raw

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw.replace("_", ""), 10)
        except ValueError:
            self.problem(name, f"{raw!r} is not an integer")
            return default
        return self._bounded(name, value, default, minimum, maximum)

    def number(
        self, name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
    ) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problem(name, f"{raw!r} is not a number")
            return default
        if not math.isfinite(value):
            self.problem(name, f"{raw!r} is not a finite number")
            return default
        return self._bounded(name, value, default, minimum, maximum)

    def _bounded(
        self, name: str, value: _Num, default: _Num, minimum: _Num | None, maximum: _Num | None
    ) -> _Num:
        if minimum is not None and value < minimum:
            self.problem(name, f"{value} is below the minimum {minimum}")
            return default
        if maximum is not None and value > maximum:
            self.problem(name, f"{value} is above the maximum {maximum}")
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self.problem(name, f"{raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")
        return default

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        allowed = sorted(choices)
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() not in allowed:
            self.problem(name, f"{raw!r} is not one of {', '.join(allowed)}")
            return default
        return raw.lower()

    def address(self, name: str, default: str) -> tuple[str, int]:
        """A `host:port` pair (port 0 = any free port; an IPv6 host in brackets)."""
        raw = self.string(name, default)
        host, sep, port_text = raw.rpartition(":")
        if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
            self.problem(name, f"{raw!r} is not host:port with a port in 0..65535")
            host, _, port_text = default.rpartition(":")
        return host.strip("[]"), int(port_text)

    def finish(self) -> None:
        """Fail with every problem found, including variables with the prefix that nothing read."""
        unknown = sorted(k for k in self._environ if k.startswith(self.prefix) and k not in self._known)
        for name in unknown:
            self.problems.append(f"{name}: not a known setting (known: {', '.join(sorted(self._known))})")
        if self.problems:
            raise ConfigError(self.problems)
