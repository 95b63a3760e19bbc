#!/bin/sh
# Installs (or upgrades) the pgfailover agent and CLI from this release directory onto a database (or witness) host:
#   sudo ./install.sh [--prefix /opt/pgfailover] [--postgres-unit UNIT | --no-postgres-unit] [--softdog SECONDS] [--no-systemd]
# Needs only Node.js 22 (20.9 works); the programs carry every dependency. Never overwrites
# /etc/pgfailover/agent.json and never stops, starts or restarts PostgreSQL. --root DIR installs under DIR
# (tests, image builds). docs/install-agent.md.
set -eu

prefix=/opt/pgfailover
postgres_unit=
postgres_unit_wanted=yes
softdog=
systemd=yes
root=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --postgres-unit) postgres_unit=$2; shift 2 ;;
    --no-postgres-unit) postgres_unit_wanted=no; shift ;;
    --softdog) softdog=$2; shift 2 ;;
    --no-systemd) systemd=no; shift ;;
    --root) root=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$softdog" in
  ''|[1-9]|[1-9][0-9]) ;;
  *) echo "install.sh: --softdog takes the countdown in whole seconds (1-99), e.g. --softdog 2" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "install.sh: Node.js 22 is needed (found ${node_major:-none}); install it first (e.g. the NodeSource or distribution package)" >&2
  exit 2
fi
[ "$node_major" -ge 22 ] || echo "install.sh: warning: Node.js $node_major works, 22 is what pgfailover is built for" >&2

unit_dirs="/etc/systemd/system /usr/lib/systemd/system /lib/systemd/system"
# A unit file for $1, or for the template it is an instance of (postgresql@15-main.service: postgresql@.service).
unit_file_exists() {
  template=$(printf '%s' "$1" | sed 's/@[^.]*\./@./')
  for dir in $unit_dirs; do
    [ -e "$root$dir/$1" ] || [ -e "$root$dir/$template" ] && return 0
  done
  return 1
}
# The units that run PostgreSQL here: Debian's per-cluster instances, PGDG's postgresql-N, or the distribution's postgresql.
find_postgres_units() {
  if unit_file_exists postgresql@.service && [ -d "$root/etc/postgresql" ]; then
    for conf in "$root"/etc/postgresql/*/*/postgresql.conf; do
      [ -e "$conf" ] || continue
      cluster_dir=${conf%/postgresql.conf}
      version_dir=${cluster_dir%/*}
      echo "postgresql@${version_dir##*/}-${cluster_dir##*/}.service"
    done
    return 0
  fi
  for dir in $unit_dirs; do
    for file in "$root$dir"/postgresql-[0-9]*.service; do
      [ -e "$file" ] && echo "${file##*/}"
    done
  done
  # Debian's postgresql.service only starts its clusters' instances: never the unit to gate.
  [ -d "$root/usr/share/postgresql-common" ] || ! unit_file_exists postgresql.service || echo postgresql.service
}

if [ "$systemd" = yes ] && [ "$postgres_unit_wanted" = yes ]; then
  if [ -n "$postgres_unit" ]; then
    if ! unit_file_exists "$postgres_unit"; then
      echo "install.sh: no unit file for $postgres_unit under $unit_dirs${root:+ (in $root)}: name the unit that runs PostgreSQL here (Debian: postgresql@15-main.service; PGDG on RHEL, Rocky, Amazon Linux: postgresql-15.service; Amazon Linux's own package: postgresql.service), or --no-postgres-unit" >&2
      exit 2
    fi
  else
    found=$(find_postgres_units | sort -u)
    case $(printf '%s' "$found" | grep -c .) in
      0) echo "install.sh: no PostgreSQL unit found: the boot-time fence is NOT installed. Pass --postgres-unit UNIT (the unit that runs this server) or, on a host without one, --no-postgres-unit" >&2; exit 2 ;;
      1) postgres_unit=$found ;;
      *) echo "install.sh: several PostgreSQL units here ($(echo $found)): pass --postgres-unit with the one pgfailover manages" >&2; exit 2 ;;
    esac
  fi
fi

install -d -m 0755 "$root$prefix/bin" "$root/usr/local/bin"
for program in pgfailover-agent pgfailover; do
  install -m 0755 "$here/bin/$program.mjs" "$root$prefix/bin/$program.mjs"
  install -m 0644 "$here/bin/$program.mjs.map" "$root$prefix/bin/$program.mjs.map"
  ln -sf "$prefix/bin/$program.mjs" "$root/usr/local/bin/$program"
done
for file in VERSION LICENSE THIRD_PARTY_NOTICES; do
  install -m 0644 "$here/$file" "$root$prefix/$file"
done
install -m 0755 "$here/uninstall.sh" "$root$prefix/uninstall.sh"
install -d -m 0750 "$root/etc/pgfailover"

if [ -n "$softdog" ]; then
  # softdog counts 60 s unless told otherwise; the agent reads the real countdown and refuses one past the lease.
  install -d -m 0755 "$root/etc/modprobe.d" "$root/etc/modules-load.d"
  echo "options softdog soft_margin=$softdog" > "$root/etc/modprobe.d/pgfailover-softdog.conf"
  echo softdog > "$root/etc/modules-load.d/pgfailover-softdog.conf"
  if [ -z "$root" ] && [ -r /sys/class/watchdog/watchdog0/timeout ] && [ "$(cat /sys/class/watchdog/watchdog0/timeout)" != "$softdog" ]; then
    echo "install.sh: the watchdog loaded now counts $(cat /sys/class/watchdog/watchdog0/timeout) s; it counts $softdog s after: modprobe -r softdog && modprobe softdog (or a reboot)" >&2
  elif [ -z "$root" ]; then
    modprobe softdog "soft_margin=$softdog" 2>/dev/null || echo "install.sh: could not load softdog now; it loads at the next boot" >&2
  fi
fi

if [ "$systemd" = yes ]; then
  install -d -m 0755 "$root/etc/systemd/system"
  sed "s#@PREFIX@#$prefix#g" "$here/systemd/pgfailover-agent.service" > "$root/etc/systemd/system/pgfailover-agent.service"
  if [ -n "$postgres_unit" ]; then
    install -d -m 0755 "$root/etc/systemd/system/$postgres_unit.d"
    sed "s#@PREFIX@#$prefix#g" "$here/systemd/postgresql-after-pgfailover.conf" > "$root/etc/systemd/system/$postgres_unit.d/pgfailover.conf"
  fi
  if [ -d "$root/run/systemd/system" ]; then
    # The new drop-in is in force before anything restarts: an older release's Requires= would have
    # restarted PostgreSQL with the agent.
    systemctl daemon-reload
    systemctl enable pgfailover-agent.service >/dev/null
    # An upgrade: the running agent (if any) becomes the new one; PostgreSQL is not touched.
    systemctl try-restart pgfailover-agent.service
  fi
fi

echo "pgfailover $(cat "$here/VERSION") installed in $root$prefix${postgres_unit:+; PostgreSQL's unit $postgres_unit passes the boot gate}"
[ -f "$root/etc/pgfailover/agent.json" ] || echo "next: write /etc/pgfailover/agent.json (docs/agent.md), then: pgfailover check-config --config /etc/pgfailover/agent.json; systemctl start pgfailover-agent"
