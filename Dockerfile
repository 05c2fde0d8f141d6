# syntax=docker/dockerfile:1
#
# zkseq: one image for every service; its first argument picks the service.
#
#     docker build -t zkseq:dev .
#     docker run --rm -e ZKSEQ_HASHDB_LMDB_PATH=/data/hashdb zkseq:dev hashdb   # python -m services.hashdb
#
# Installed from this repository's own files only (.dockerignore is an allow list): the Python
# dependencies from PyPI as pyproject.toml lists them, the C extension (zkevm/_poseidon.c) compiled
# here, the protobuf code generated here from protos/. The running image has no compiler and runs
# as the unprivileged user zkseq (uid 10001).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: compiler, dependencies, C extension, generated protos -----------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/zkseq/bin:$PATH

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/zkseq \
 && pip install --upgrade pip setuptools wheel

WORKDIR /src

# the dependencies first, in a layer of their own that changes only with pyproject.toml
COPY pyproject.toml setup.py README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

COPY zkevm ./zkevm
COPY protos ./protos
COPY services ./services
COPY contracts/artifacts ./contracts/artifacts

# the same protoc call as `make proto`, then the package itself (builds zkevm._poseidon)
RUN python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. --pyi_out=. \
        $(find protos -name '*.proto') \
 && pip install --no-deps .

# services.common.l1 reads the contract ABIs from contracts/artifacts beside the `services` package
# (in site-packages once installed): put them there
RUN cd / \
 && artifacts="$(python -c 'from services.common.l1.artifacts import ARTIFACTS_DIR; print(ARTIFACTS_DIR)')" \
 && mkdir -p "$artifacts" \
 && cp /src/contracts/artifacts/*.json "$artifacts/" \
 && python -c 'from services.common.l1.artifacts import load_artifact; load_artifact("ZkEVMRollup")'

COPY deploy/docker/entrypoint.sh /opt/zkseq/bin/zkseq-service
# every service must import from the installed package, away from the sources
RUN cd / && zkseq-service --check && python -c 'import zkevm._poseidon'

# ---- run: the virtual environment only, as a non-root user -------------------------------------
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/zkseq/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 zkseq \
 && useradd --system --uid 10001 --gid zkseq --no-create-home --home-dir /data \
        --shell /usr/sbin/nologin zkseq \
 && mkdir -p /data \
 && chown zkseq:zkseq /data

COPY --from=build /opt/zkseq /opt/zkseq

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]

# gRPC: hashdb 50061, executor 50071, pool 50081, sequencer 50091, ethtxmanager 50101,
# sequencesender 50111; JSON-RPC 8123; /metrics 9091-9097
EXPOSE 50061 50071 50081 50091 50101 50111 8123 9091 9092 9093 9094 9095 9096 9097

ENTRYPOINT ["zkseq-service"]
CMD ["--help"]
