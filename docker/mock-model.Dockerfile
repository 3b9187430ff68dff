# The scripted mock model of docker/compose.yaml (scripts/mock-model.py, standard-library Python)
# on Debian's python3. Built from the repository root:
#
#   docker build -f docker/mock-model.Dockerfile -t localhost/clawgate-mock-model:dev .
#   scripts/container.sh build-gateway        # the same with podman
#
# It listens on 127.0.0.1:18799 inside the network namespace it joins (the gateway's in compose)
# and appends every request it receives to /tmp/mock-model.requests.jsonl (what "the model" saw:
# `docker compose exec mock-model cat /tmp/mock-model.requests.jsonl`).
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/mock-model.py /opt/mock-model.py
USER 65534:65534
CMD ["python3", "/opt/mock-model.py", "18799", "--quiet", "--request-log", "/tmp/mock-model.requests.jsonl"]
