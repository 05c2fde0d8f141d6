"""Service plumbing shared by every zkseq process, and nothing else.

    config        ZKSEQ_<SERVICE>_* environment variables: typed reads, every problem reported at once
    errors        typed service errors, each carrying its gRPC status code
    interceptors  one grpc.aio interceptor: typed exceptions → status codes, latency per RPC
    grpc_server   grpc.aio server bootstrap: health checking, port binding, graceful shutdown
    metrics       the Prometheus /metrics endpoint and the per-RPC metrics
    logs          structured logs: a constant event name plus fields, one JSON object per line

Protocol logic never lives here (that is `zkevm/`), and no service imports another service.
"""
