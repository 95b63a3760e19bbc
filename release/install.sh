#!/bin/sh
# Installs the pgfailover agent and CLI from this release directory onto a database (or witness) host:
#   sudo ./install.sh [--prefix /opt/pgfailover] [--postgres-unit postgresql@15-main.service] [--no-systemd]
# Needs only Node.js 22 (20.9 works); the programs carry every dependency. Never overwrites
# /etc/pgfailover/agent.json. --root DIR installs under DIR (tests, image builds). docs/install-agent.md.
set -eu

prefix=/opt/pgfailover
postgres_unit=postgresql@15-main.service
systemd=yes
root=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --postgres-unit) postgres_unit=$2; shift 2 ;;
    --no-systemd) systemd=no; shift ;;
    --root) root=$2; shift 2 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "install.sh: Node.js 22 is needed (found ${node_major:-none}); install it first (e.g. the NodeSource or distribution package)" >&2
  exit 2
fi
[ "$node_major" -ge 22 ] || echo "install.sh: warning: Node.js $node_major works, 22 is what pgfailover is built for" >&2

install -d -m 0755 "$root$prefix/bin" "$root/usr/local/bin"
for program in pgfailover-agent pgfailover; do
  install -m 0755 "$here/bin/$program.mjs" "$root$prefix/bin/$program.mjs"
  install -m 0644 "$here/bin/$program.mjs.map" "$root$prefix/bin/$program.mjs.map"
  ln -sf "$prefix/bin/$program.mjs" "$root/usr/local/bin/$program"
done
install -m 0644 "$here/VERSION" "$root$prefix/VERSION"
install -m 0644 "$here/LICENSE" "$root$prefix/LICENSE"
install -m 0644 "$here/THIRD_PARTY_NOTICES" "$root$prefix/THIRD_PARTY_NOTICES"
install -d -m 0750 "$root/etc/pgfailover"

if [ "$systemd" = yes ]; then
  install -d -m 0755 "$root/etc/systemd/system/$postgres_unit.d"
  sed "s#@PREFIX@#$prefix#g" "$here/systemd/pgfailover-agent.service" > "$root/etc/systemd/system/pgfailover-agent.service"
  install -m 0644 "$here/systemd/postgresql-after-pgfailover.conf" "$root/etc/systemd/system/$postgres_unit.d/pgfailover.conf"
  if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable pgfailover-agent.service >/dev/null
  fi
fi

echo "pgfailover $(cat "$here/VERSION") installed in $root$prefix"
[ -f "$root/etc/pgfailover/agent.json" ] || echo "next: write /etc/pgfailover/agent.json (docs/agent.md), then: pgfailover check-config --config /etc/pgfailover/agent.json"
