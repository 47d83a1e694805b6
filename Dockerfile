# claimgate: Caddy with the claimgate plugin, built from this repository.
#
#   docker build -t claimgate .
#   docker run -p 80:80 -p 443:443 -v $PWD/Caddyfile:/etc/caddy/Caddyfile claimgate

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/claimgate ./cmd/claimgate \
    && mkdir -p /out/data /out/config

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/claimgate /usr/bin/claimgate
# Writable by the non-root user (uid 65532) that the server runs as.
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/config /config
COPY examples/quickstart/Caddyfile /etc/caddy/Caddyfile
# Caddy keeps its storage (signing keys included) under XDG_DATA_HOME;
# mount a volume here so keys survive restarts and are shared by replicas.
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
VOLUME ["/data", "/config"]
EXPOSE 80 443
USER nonroot:nonroot
ENTRYPOINT ["/usr/bin/claimgate"]
CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
