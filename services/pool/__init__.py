"""The transaction pool: validated L2 transactions in Redis, served to the sequencer best first.

validation  the admission rules in order, their messages, AccountStateReader (what it reads)
store       the Redis data model, the state machine and the Lua scripts that keep it atomic
pool        Pool: admission, the sequencer's view and outcomes, expiry
state       AccountStateReader implementations: in memory, and over the HashDB
servicer    zkseq.pool.v1.PoolService, protobuf in and out
client      a typed client of that service
metrics     zkseq_pool_* Prometheus metrics
config      ZKSEQ_POOL_* settings
app         wiring of one process; `python -m services.pool` runs it
"""
