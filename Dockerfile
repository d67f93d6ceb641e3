# Agora in a scratch image: the static binary, the CA bundle, nothing else.
#   docker build -t agora .
# .dockerignore keeps .git, .cache, build/, local config and secrets out of
# the context: the image builds its dependencies from the pinned sources.
# tests/cli/deploy_check.py checks the final stage; tests/e2e/014 runs the
# binary in a root holding exactly what it holds.
# Build stage: Debian 12, exactly the README's ./build.sh.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN apt-get update && ./build.sh

# Run stage: no shell, no libc, no package manager.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /src/agora /agora
# the config is mounted at /agora.conf (see docker-compose.yml); secrets at /run/secrets
ENV AGORA_CONFIG=/agora.conf
USER 65534:65534
# the scratch image has no shell: the binary asks itself (loopback HEALTH_PORT)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/agora", "--healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/agora"]
