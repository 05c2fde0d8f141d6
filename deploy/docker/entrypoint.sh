#!/bin/sh
# The zkseq image's entry point: the first argument names the service.
#
#     zkseq-service executor            ->  python -m services.executor   (ZKSEQ_EXECUTOR_* from the env)
#     zkseq-service --check             ->  import every service's __main__ (the image build runs it)
#     zkseq-service zkseq conformance … ->  any other command runs as given
#
# Every service is configured only by its ZKSEQ_<SERVICE>_* variables (services/<name>/config.py).
set -eu

SERVICES="hashdb executor pool jsonrpc sequencer sequencesender ethtxmanager"

usage() {
    echo "usage: zkseq-service SERVICE   (one of: $SERVICES)" >&2
    echo "       zkseq-service --check   (import every service)" >&2
    echo "       zkseq-service COMMAND [ARG...]" >&2
}

if [ $# -eq 0 ]; then
    usage
    exit 64
fi

case "$1" in
    --help | -h)
        usage
        exit 0
        ;;
    --check)
        for service in $SERVICES; do
            python -c "import services.$service.__main__" || {
                echo "zkseq-service: services.$service cannot be imported" >&2
                exit 1
            }
        done
        echo "zkseq-service: every service imports: $SERVICES"
        exit 0
        ;;
esac

for service in $SERVICES; do
    if [ "$1" = "$service" ]; then
        shift
        exec python -m "services.$service" "$@"
    fi
done
exec "$@"
