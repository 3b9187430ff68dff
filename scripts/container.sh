#!/usr/bin/env bash
# Builds and runs the clawgate container image with Debian's podman (no Docker engine needed).
#
#   scripts/container.sh install         apt packages: podman, runc, debootstrap
#   scripts/container.sh base            the base images debian:bookworm and debian:bookworm-slim
#   scripts/container.sh build           install + base, then the image localhost/clawgate:dev from
#                                        docker/Dockerfile, as `docker build` would build it
#   scripts/container.sh build-gateway   the compose file's other images: localhost/clawgate-openclaw
#                                        (docker/openclaw.Dockerfile) and localhost/clawgate-mock-model
#   scripts/container.sh run [PODMAN-RUN-OPTIONS...] [-- CLAWGATE-ARGS...]
#                                        podman run --rm --network host … localhost/clawgate:dev
#   scripts/container.sh test            the container tests (ctest -L container runs the same):
#                                        tests/container/test_container.py against the built images
#   scripts/container.sh podman ARGS...  podman with the settings below (podman ps, logs, images, …)
#
# What it takes on the development machines (Debian 12, no Docker engine, no registry; measured
# there):
# - No registry: the base image is made with `debootstrap --variant=minbase bookworm` from the apt
#   mirror this machine already uses (read from /etc/apt/sources.list.d/*.sources or
#   /etc/apt/sources.list; no host is written into the project), upgraded from the same sources
#   (bookworm-updates and bookworm-security when the machine has them), and imported as
#   debian:bookworm, plus a copy without documentation, man pages and locales (as Debian's official
#   slim image does) as debian:bookworm-slim. `FROM debian:…` then resolves locally. Done once: an
#   existing debian:bookworm / debian:bookworm-slim (yours, pulled or made here) is used as it is;
#   `base --rebuild` (or CLAWGATE_BASE_REBUILD=1) makes them again, e.g. for security updates.
# - Builds use `--isolation=chroot` (the default OCI isolation cannot set RLIMIT_NOFILE here) and
#   `--format docker` (the OCI image format has no HEALTHCHECK; Docker's format keeps it).
# - Containers run with runc and no default ulimits (crun and podman's default ulimits are refused
#   here): podman reads .cache/container/containers.conf through CONTAINERS_CONF, which this
#   script writes.
#
# Environment: CLAWGATE_IMAGE (default localhost/clawgate:dev), CLAWGATE_OPENCLAW_IMAGE (default
# localhost/clawgate-openclaw:2026.9.6), CLAWGATE_MOCK_IMAGE (default
# localhost/clawgate-mock-model:dev), CLAWGATE_BASE_REBUILD=1, CLAWGATE_BIN (the host clawgate for
# `test`; default build/release/src/clawgate), CLAWGATE_BUILD_CA_FILE (the CA bundle handed to the
# gateway image's build for its https downloads; default /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$script_dir")"
cd "$root"

image="${CLAWGATE_IMAGE:-localhost/clawgate:dev}"
openclaw_image="${CLAWGATE_OPENCLAW_IMAGE:-localhost/clawgate-openclaw:2026.9.6}"
mock_image="${CLAWGATE_MOCK_IMAGE:-localhost/clawgate-mock-model:dev}"
base_full="docker.io/library/debian:bookworm"
base_slim="docker.io/library/debian:bookworm-slim"
conf_dir="$root/.cache/container"
conf_file="$conf_dir/containers.conf"
packages=(podman runc debootstrap)

log() { echo "container.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

now() { date +%s; }

# ---------------------------------------------------------------------------------------------

cmd_install() {
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
  write_conf
}

# podman's settings for this machine: runc, and no default ulimits.
write_conf() {
  mkdir -p "$conf_dir"
  cat >"$conf_file.tmp" <<'EOF'
# Written by scripts/container.sh: crun and podman's default
# ulimits are refused on these machines; runc without default ulimits works.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
  mv "$conf_file.tmp" "$conf_file"
}

pm() { CONTAINERS_CONF="$conf_file" podman "$@"; }

have_image() { pm image exists "$1"; }

# The Debian mirrors this machine's apt uses: prints "DEBIAN_URI SECURITY_URI" (the second may be
# "-"). deb822 files first, then one-line sources.
apt_mirrors() {
  python3 - /etc/apt/sources.list.d/*.sources /etc/apt/sources.list <<'EOF'
import glob, sys
main = security = None
def take(uri, suites, types):
    global main, security
    if "deb" not in types or not uri.startswith(("http://", "https://")):
        return
    for s in suites:
        if s == "bookworm" and main is None:
            main = uri
        if s == "bookworm-security" and security is None:
            security = uri
for path in sys.argv[1:]:
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in text.split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                k, _, v = line.partition(":")
                fields[k.strip().lower()] = v.split()
            if fields.get("enabled", ["yes"])[0].lower() == "no":
                continue
            for uri in fields.get("uris", []):
                take(uri.rstrip("/"), fields.get("suites", []), fields.get("types", []))
    else:
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] == "deb":
                if words[1].startswith("["):  # options: deb [arch=...] URI SUITE ...
                    while words and not words[0].endswith("]"):
                        words.pop(0)
                    words = ["deb"] + words[1:]
                if len(words) >= 3:
                    take(words[1].rstrip("/"), [words[2]], ["deb"])
if not main:
    sys.exit("no bookworm source in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list")
print(main, security or "-")
EOF
}

cmd_base() {
  local rebuild="${CLAWGATE_BASE_REBUILD:-0}"
  [ "${1:-}" != --rebuild ] || rebuild=1
  local need_full=1 need_slim=1
  if [ "$rebuild" != 1 ]; then
    ! have_image "$base_full" || need_full=0
    ! have_image "$base_slim" || need_slim=0
  fi
  if [ "$need_full$need_slim" = 00 ]; then
    log "base images $base_full and $base_slim are there (base --rebuild makes them again)"
    return 0
  fi
  command -v debootstrap >/dev/null || die "debootstrap is missing: scripts/container.sh install"
  local mirrors main security work rootfs started
  mirrors="$(apt_mirrors)" || die "cannot find this machine's Debian mirror in its apt sources"
  read -r main security <<<"$mirrors"
  started="$(now)"
  work="$(mktemp -d "${TMPDIR:-/tmp}/clawgate-base.XXXXXX")"
  rootfs="$work/rootfs"
  # shellcheck disable=SC2064 # expand now: the trap must remove this run's folder
  trap "$SUDO rm -rf '$work'" EXIT
  log "debootstrap --variant=minbase bookworm from $main (about a minute)"
  $SUDO debootstrap --variant=minbase bookworm "$rootfs" "$main" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed"
  }
  # apt sources as in Debian's own images (deb822, with updates and security when the machine has
  # them), then the upgrades from there, and the apt settings of Debian's images: no package cache
  # kept, no translations.
  {
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$main"
    if [ "$security" != - ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security"
    fi
  } | $SUDO tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null
  $SUDO rm -f "$rootfs/etc/apt/sources.list"
  $SUDO tee "$rootfs/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' | $SUDO tee "$rootfs/etc/apt/apt.conf.d/docker-no-languages" >/dev/null
  $SUDO cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  log "apt-get upgrade in the new root (updates and security)"
  $SUDO env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
    chroot "$rootfs" sh -c 'apt-get update -qq && apt-get -y -qq upgrade >/dev/null && apt-get clean' >&2 ||
    die "apt-get upgrade in the new root failed"
  $SUDO rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin \
    "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/log/"*.log "$rootfs/var/log/apt/"*
  $SUDO rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
  local created
  created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local -a changes=(--change 'CMD ["bash"]' --change "LABEL org.clawgate.base=debootstrap-minbase-bookworm"
    --change "LABEL org.clawgate.base.created=$created")
  if [ "$need_full" = 1 ]; then
    log "podman import $base_full"
    $SUDO tar --numeric-owner -C "$rootfs" -c . | pm import -q "${changes[@]}" - "$base_full" >/dev/null
  fi
  # The slim variant: what Debian's slim images leave out, and the dpkg filter that keeps it out.
  $SUDO tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'EOF'
# as in Debian's bookworm-slim images: no documentation (copyright files stay), man pages, locales
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  $SUDO find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  $SUDO find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  $SUDO rm -rf "$rootfs/usr/share/man/"* "$rootfs/usr/share/groff/"* "$rootfs/usr/share/info/"* \
    "$rootfs/usr/share/lintian/"* "$rootfs/usr/share/linda/"* "$rootfs/usr/share/locale/"*
  if [ "$need_slim" = 1 ]; then
    log "podman import $base_slim"
    $SUDO tar --numeric-owner -C "$rootfs" -c . | pm import -q "${changes[@]}" - "$base_slim" >/dev/null
  fi
  $SUDO rm -rf "$work"
  trap - EXIT
  log "base images ready after $(($(now) - started))s: $(pm images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'debian:bookworm' | tr '\n' ' ')"
}

# build_image IMAGE DOCKERFILE: podman build of the repository root, as `docker build -f DOCKERFILE .`
build_image() {
  local tag="$1" file="$2" started old new
  started="$(now)"
  old="$(pm image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
  log "podman build -f $file -t $tag . (chroot isolation, docker format)"
  pm build --isolation=chroot --network host --format docker --layers \
    -f "$file" -t "$tag" "${@:3}" . >&2 || die "podman build of $file failed"
  new="$(pm image inspect --format '{{.Id}}' "$tag")"
  log "built $tag in $(($(now) - started))s: $(pm image inspect --format '{{.Size}}' "$tag") bytes"
  # The image this build replaced, and build-stage layers unused for a week, go; recent layers
  # stay as the cache of the next build.
  if [ -n "$old" ] && [ "$old" != "$new" ]; then pm rmi "$old" >/dev/null 2>&1 || true; fi
  pm image prune -f --filter until=168h >/dev/null 2>&1 || true
}

cmd_build() {
  cmd_install
  cmd_base
  build_image "$image" docker/Dockerfile
}

cmd_build_gateway() {
  cmd_install
  cmd_base
  # The machine's CA bundle as a build secret: the image downloads from the npm registry over
  # https, and a TLS-inspecting proxy's CA is trusted only where the machine trusts it.
  local -a ca=()
  local ca_file="${CLAWGATE_BUILD_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}"
  [ ! -s "$ca_file" ] || ca=(--secret "id=ca-bundle,src=$ca_file")
  build_image "$openclaw_image" docker/openclaw.Dockerfile "${ca[@]}"
  build_image "$mock_image" docker/mock-model.Dockerfile
}

cmd_run() {
  write_conf
  local -a opts=() args=()
  while (($#)); do
    if [ "$1" = -- ]; then
      shift
      args=("$@")
      break
    fi
    opts+=("$1")
    shift
  done
  have_image "$image" || die "no image $image: scripts/container.sh build"
  exec env CONTAINERS_CONF="$conf_file" podman run --rm --network host "${opts[@]}" "$image" "${args[@]}"
}

cmd_test() {
  write_conf
  local bin="${CLAWGATE_BIN:-$root/build/release/src/clawgate}"
  if [ -z "${CLAWGATE_BIN:-}" ]; then
    scripts/install-deps.sh
    scripts/build.sh release clawgate
  fi
  [ -x "$bin" ] || die "no clawgate binary at $bin"
  python3 tests/container/test_container.py --clawgate "$bin"
}

case "${1:-}" in
  install) cmd_install ;;
  base)
    cmd_install
    cmd_base "${2:-}"
    ;;
  build) cmd_build ;;
  build-gateway) cmd_build_gateway ;;
  run)
    shift
    cmd_run "$@"
    ;;
  test) cmd_test ;;
  podman)
    shift
    write_conf
    exec env CONTAINERS_CONF="$conf_file" podman "$@"
    ;;
  conf)
    write_conf
    echo "$conf_file"
    ;;
  *)
    echo "usage: $0 install|base [--rebuild]|build|build-gateway|run [OPTS] [-- ARGS]|test|podman ARGS|conf" >&2
    exit 2
    ;;
esac
