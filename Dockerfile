# The clusterdns image, for deploy/ (kustomize):
#
#   docker build -t clusterdns:0.1.0 .
#   docker build --build-arg CLUSTERDNS_REVISION=$(git rev-parse --short HEAD) -t REGISTRY/clusterdns:TAG .
#
# Two stages: a release build on Debian 12, then only the binary on distroless's
# Debian 12 `cc` image (glibc 2.36 and libgcc_s, which the binary links against, plus
# CA certificates and tzdata; no shell). glibc rather than a static musl build: musl's
# allocator is much slower under the many threads of the UDP workers.

ARG RUST_IMAGE=rust:1-bookworm
ARG BASE_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
# setcap, to let the binary bind port 53 as a non-root user (below).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libcap2-bin \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The revision reported by coredns_build_info (read at compile time).
ARG CLUSTERDNS_REVISION=unknown
ENV CLUSTERDNS_REVISION=${CLUSTERDNS_REVISION}
# setcap as CoreDNS's image does: the file capability lets the non-root user bind :53.
# The Deployment keeps NET_BIND_SERVICE in the container's set (and drops every other
# capability), so it is granted even with allowPrivilegeEscalation: false.
RUN cargo build --release --locked --bin clusterdns \
    && install -m 0755 target/release/clusterdns /clusterdns \
    && /clusterdns --version \
    && setcap cap_net_bind_service=+ep /clusterdns

# The node-local image (deploy/overlays/node-local): the same binary with the tools its
# node set-up drives, iproute2's `ip` and `nft` (iptables where nftables is missing):
#   docker build --target node-local -t clusterdns-node-local:0.1.0 .
FROM debian:bookworm-slim AS node-local
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 nftables iptables \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /clusterdns /clusterdns
# DNS, metrics (prometheus :9253), /health (health 169.254.20.10:8080).
EXPOSE 53/udp 53/tcp 9253/tcp 8080/tcp
ENTRYPOINT ["/clusterdns"]

# The default target: the cluster DNS server's image.
FROM ${BASE_IMAGE}
# COPY keeps the file capability (an extended attribute) set above.
COPY --from=build /clusterdns /clusterdns
# distroless's `nonroot` user.
USER 65532:65532
WORKDIR /
# DNS, metrics (prometheus), /health (health), /ready (ready).
EXPOSE 53/udp 53/tcp 9153/tcp 8080/tcp 8181/tcp
ENTRYPOINT ["/clusterdns"]
# Where deploy/ mounts ConfigMap `coredns` (key Corefile), as for CoreDNS.
CMD ["-conf", "/etc/coredns/Corefile"]
