"""Service plumbing shared by every zkseq process, and nothing else.

    config        ZKSEQ_<SERVICE>_* environment variables: typed reads, every problem reported at once
    errors        typed service errors, each carrying its gRPC status code
    interceptors  one grpc.aio interceptor: typed exceptions → status codes, latency per RPC
    grpc_server   grpc.aio server bootstrap: health checking, port binding, graceful shutdown
    runner        a service's `__main__`: config, start, serve until SIGTERM / SIGINT, exit codes 0 / 1 / 2
    grpc_client   typed unary calls with a deadline on every call
    metrics       the Prometheus /metrics endpoint and the per-RPC metrics
    logs          structured logs: a constant event name plus fields, one JSON object per line
    process       start a service as a child process and wait for its "serving" log line
    statedb       StateDB access (batches, blocks, L1 data), shared by the services that use it

Protocol logic never lives here (that is `zkevm/`), and no service imports another service.
"""
