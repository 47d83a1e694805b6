# claimgate: Caddy with the claimgate plugin, built from this repository.
#
#   docker build -t claimgate .
#   docker run -p 8080:8080 -v claimgate-data:/data \
#     -e CLAIMGATE_DSN='claimgate:PASSWORD@tcp(db.internal:3306)/app?tls=true' \
#     -e WEB_BACKEND_SECRET=... claimgate
#
# The image has no demo database, and its default config
# (examples/container/Caddyfile) refuses to start until CLAIMGATE_DSN and
# WEB_BACKEND_SECRET are set. Mount
# your own Caddyfile over /etc/caddy/Caddyfile for anything else; keep a
# site on :8080 serving claimgate_login, or change the HEALTHCHECK below.
#
# Base images are pinned by tag and by digest: the tag says what it is, the
# digest makes every build use the same bytes. The digests are the
# multi-arch index digests of these tags as public projects recorded them
# (the registry was not reachable from where this file was written: check
# them once with the commands below). To update, bump the tag and take the
# digest that prints:
#   docker buildx imagetools inspect golang:1.26.8-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot

FROM golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# claimgate_nodemo leaves the embedded demo database (published passwords)
# out of the image: `dsn embedded` is refused at load. .git is not in the
# build context (.dockerignore), so the build says so rather than looking
# for it; `claimgate claimgate version` prints (devel).
# cmd/claimgate/dockerfile_test.go runs this same go build.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -tags=claimgate_nodemo -ldflags="-s -w" -o /out/claimgate ./cmd/claimgate
RUN mkdir -p /out/data /out/config

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/claimgate /usr/bin/claimgate
# Writable by the non-root user (uid 65532) that the server runs as.
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/config /config
COPY examples/container/Caddyfile /etc/caddy/Caddyfile
# Caddy keeps its storage (signing keys, the log key) under XDG_DATA_HOME:
# mount a volume on /data so the keys survive restarts, and share it (or a
# storage module) between replicas.
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
VOLUME ["/data", "/config"]
# The default config's site. Caddy's admin endpoint (metrics at /metrics)
# stays on localhost:2019 inside the container.
EXPOSE 8080
USER nonroot:nonroot
# No shell or curl in this image: the binary checks itself. /health/ready
# answers 503 while the database is unavailable or misconfigured or there is
# no signing key; use /health to check only that the process serves.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/bin/claimgate", "claimgate", "health", "--url", "http://127.0.0.1:8080/health/ready", "--timeout", "3s"]
ENTRYPOINT ["/usr/bin/claimgate"]
CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
