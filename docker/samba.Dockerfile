# syntax=docker/dockerfile:1
# A plain Debian smbd that shares the stableid sidecar's mount (docker/compose.yaml).
FROM debian:bookworm-slim
# libnss-extrausers: Samba users' Unix accounts live in /var/lib/extrausers,
# a volume, so they survive recreating this container (samba-adduser).
RUN apt-get update \
 && apt-get install -y --no-install-recommends samba samba-vfs-modules procps libnss-extrausers \
 && rm -rf /var/lib/apt/lists/* \
 && sed -i -E 's/^(passwd|group|shadow):(.*)$/\1:\2 extrausers/' /etc/nsswitch.conf \
 && mkdir -p /shared /var/lib/extrausers
COPY healthcheck.sh /usr/local/bin/stableid-healthcheck
COPY samba-adduser.sh /usr/local/bin/samba-adduser
EXPOSE 445
# Unhealthy while the stableid mount is gone or dead, or smbd is not listening.
HEALTHCHECK --interval=10s --timeout=10s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/stableid-healthcheck", "/shared/stable", "--smb-port", "445"]
# smbd in the foreground under the init (compose: init: true); --no-process-group
# as usual in a container, where it needs no session of its own; logs to stdout.
CMD ["smbd", "--foreground", "--debug-stdout", "--no-process-group"]
