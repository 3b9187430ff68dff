# The OpenClaw gateway for docker/compose.yaml: openclaw@2026.9.6 on Node 24 (openclaw 2026.9.x
# needs Node >= 24.16 for node:sqlite). Built from the repository root:
#
#   docker build -f docker/openclaw.Dockerfile -t localhost/clawgate-openclaw:2026.9.6 .
#   scripts/container.sh build-gateway        # the same with podman
#
# Node, npm and openclaw come from the npm registry through scripts/openclaw-local.sh install, the
# same pinned versions and sha512 checks as the local gateway of the tests (Node from the registry's
# node-linux-<arch> package, so no Node base image is needed). openclaw is installed with
# --ignore-scripts: its install scripts are a package-manager warning, a dist clean-up and optional
# native helpers, none needed to run the gateway. The config is not in the image: compose mounts
# docker/openclaw/ at /etc/openclaw, and the gateway token comes from the environment
# (OPENCLAW_GATEWAY_TOKEN).
ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---- download -----------------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS fetch
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl python3 \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/openclaw-local.sh /src/scripts/openclaw-local.sh
ARG OPENCLAW_VERSION=2026.9.6
ARG OPENCLAW_NPM_REGISTRY=https://registry.npmjs.org
# Behind a TLS-inspecting proxy, give the build your CA bundle as the build secret `ca-bundle`
# (`--secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt`; scripts/container.sh does): curl
# and npm then trust it for the downloads. It is mounted for this step only, in no layer.
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then \
      export CURL_CA_BUNDLE=/run/secrets/ca-bundle NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle; \
    fi \
 && OPENCLAW_LOCAL_PREFIX=/opt/openclaw OPENCLAW_VERSION="${OPENCLAW_VERSION}" \
    OPENCLAW_NPM_REGISTRY="${OPENCLAW_NPM_REGISTRY}" /src/scripts/openclaw-local.sh install \
 && rm -rf /opt/openclaw/npm-cache /opt/openclaw/.install.lock

# ---- runtime ------------------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE}
COPY --from=fetch /opt/openclaw /opt/openclaw
RUN groupadd --gid 1000 node \
 && useradd --uid 1000 --gid 1000 --home-dir /home/node --create-home --shell /usr/sbin/nologin node \
 && install -d -o node -g node -m 0700 /home/node/state /home/node/workspace
# The same isolation as scripts/openclaw-local.sh: state under /home/node (a volume in compose), no
# Bonjour, no self-update, no channels, no tool downloads.
ENV PATH=/opt/openclaw/node/bin:/opt/openclaw/app/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/home/node \
    OPENCLAW_HOME=/home/node \
    OPENCLAW_STATE_DIR=/home/node/state \
    OPENCLAW_CONFIG_PATH=/etc/openclaw/mock.json \
    OPENCLAW_DISABLE_BONJOUR=1 \
    OPENCLAW_NO_AUTO_UPDATE=1 \
    OPENCLAW_SKIP_CHANNELS=1 \
    OPENCLAW_OFFLINE=1
RUN node --version && openclaw --version
USER node
WORKDIR /home/node
# Loopback only: clawgate reaches it through the shared network namespace (compose.yaml).
CMD ["openclaw", "gateway", "run", "--port", "18789", "--bind", "loopback"]
