"""What the StateDB raises, besides `ValueError` for malformed values.

    ValueError              a value is malformed: wrong hash length, negative amount, mismatched links
                            between the objects of one call. The message names the field.
    StateDBError            base of everything the database itself answers
    ├── StateConflict       the write contradicts what is stored: no open batch, a batch number that
    │                       is not the next one, a duplicate key, a foreign key to nothing
    ├── DatabaseUnavailable the server or file cannot be used right now (connection lost, lock wait
    │                       timed out, no free connection); the call may be retried
    ├── QueryLimitExceeded  a read would return more than the configured bound (eth_getLogs)
    └── MigrationError      the stored schema and this code's migration list disagree

Every write is all-or-nothing, so after any of these nothing of the failed call is stored.
"""


class StateDBError(Exception):
    """The StateDB could not do what was asked; nothing of the failed call is stored."""


class StateConflict(StateDBError):
    """The write contradicts the stored state (sequence, uniqueness or reference rules)."""


class DatabaseUnavailable(StateDBError):
    """The database cannot be reached or is busy beyond the timeout; retrying may succeed."""


class QueryLimitExceeded(StateDBError):
    """A read asks for more rows or a wider block range than the configured bound."""


class MigrationError(StateDBError):
    """The schema in the database does not match the migrations this code knows."""
