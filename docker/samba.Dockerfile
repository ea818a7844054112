# syntax=docker/dockerfile:1
# A plain Debian smbd that shares the stableid sidecar's mount (docker/compose.yaml).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends samba samba-vfs-modules procps \
 && rm -rf /var/lib/apt/lists/*
EXPOSE 445
# smbd in the foreground under the init (compose: init: true); --no-process-group
# as usual in a container, where it needs no session of its own; logs to stdout.
CMD ["smbd", "--foreground", "--debug-stdout", "--no-process-group"]
