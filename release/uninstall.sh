#!/bin/sh
# Removes the pgfailover agent and CLI from this host, leaving PostgreSQL running and untouched:
#   sudo /opt/pgfailover/uninstall.sh [--prefix /opt/pgfailover] [--purge] [--root DIR]
# --purge also removes /etc/pgfailover (the config and its secrets). Remove the node from its cluster
# first (pgfailover remove-node), or its absence is reported as a dead agent. docs/install-agent.md.
set -eu

prefix=/opt/pgfailover
purge=no
root=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --purge) purge=yes; shift ;;
    --root) root=$2; shift 2 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

running_systemd=no
[ -d "$root/run/systemd/system" ] && running_systemd=yes

# The drop-ins go first and systemd reloads before the agent stops: a drop-in of an older release said
# Requires=pgfailover-agent.service, and stopping the agent under it would stop PostgreSQL.
for dropin in "$root"/etc/systemd/system/*.service.d/pgfailover.conf; do
  [ -e "$dropin" ] || continue
  rm -f "$dropin"
  rmdir "${dropin%/pgfailover.conf}" 2>/dev/null || true
done
[ "$running_systemd" = yes ] && systemctl daemon-reload
if [ "$running_systemd" = yes ]; then
  # The agent's SIGTERM marks it EXITED in the state table; KillMode=process leaves any server it started.
  systemctl disable --now pgfailover-agent.service >/dev/null 2>&1 || true
fi
rm -f "$root/etc/systemd/system/pgfailover-agent.service"
[ "$running_systemd" = yes ] && systemctl daemon-reload

for program in pgfailover-agent pgfailover; do
  link="$root/usr/local/bin/$program"
  [ -L "$link" ] && [ "$(readlink "$link")" = "$prefix/bin/$program.mjs" ] && rm -f "$link"
done
rm -rf "$root$prefix"
rm -f "$root/etc/modprobe.d/pgfailover-softdog.conf" "$root/etc/modules-load.d/pgfailover-softdog.conf"
if [ "$purge" = yes ]; then
  rm -rf "$root/etc/pgfailover"
  echo "pgfailover removed, with /etc/pgfailover; PostgreSQL was not touched"
else
  echo "pgfailover removed; /etc/pgfailover kept (--purge removes it); PostgreSQL was not touched"
fi
