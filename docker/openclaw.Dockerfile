# The OpenClaw gateway for docker/compose.yaml: openclaw@2026.9.6 on Node 24 (openclaw 2026.9.x
# needs Node >= 24.16 for node:sqlite). Installed with --ignore-scripts: the install scripts are a
# package-manager warning, a dist clean-up and optional native helpers, none needed to run the
# gateway. The config is not in the image: compose mounts docker/openclaw/ at /etc/openclaw and
# the gateway token comes from the environment (OPENCLAW_GATEWAY_TOKEN).
ARG NODE_IMAGE=node:24-bookworm-slim
FROM ${NODE_IMAGE}
ARG OPENCLAW_VERSION=2026.9.6
RUN npm install -g --ignore-scripts "openclaw@${OPENCLAW_VERSION}" \
 && npm cache clean --force \
 && install -d -o node -g node -m 0700 /home/node/state /home/node/workspace
# The same isolation as scripts/openclaw-local.sh: state under /home/node (a volume in compose), no
# Bonjour, no self-update, no channels, no tool downloads.
ENV HOME=/home/node \
    OPENCLAW_HOME=/home/node \
    OPENCLAW_STATE_DIR=/home/node/state \
    OPENCLAW_CONFIG_PATH=/etc/openclaw/mock.json \
    OPENCLAW_DISABLE_BONJOUR=1 \
    OPENCLAW_NO_AUTO_UPDATE=1 \
    OPENCLAW_SKIP_CHANNELS=1 \
    OPENCLAW_OFFLINE=1
USER node
WORKDIR /home/node
# Loopback only: clawgate reaches it through the shared network namespace (compose.yaml).
CMD ["openclaw", "gateway", "run", "--port", "18789", "--bind", "loopback"]
