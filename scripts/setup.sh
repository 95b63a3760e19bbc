#!/usr/bin/env bash
# Installs what `npm run demo` and `npm test` need and a fresh Debian or Ubuntu machine lacks: the Node
# packages (npm ci), a PostgreSQL server (Debian's postgresql-15, else the distribution's own version), spin
# and gcc for the protocol's model check, and,
# for the local mode's network lab, iproute2, iptables and libfaketime. As root it installs them; as
# another user it prints the one command that does, and stops. Safe to run again: it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# The Node packages: when there are none yet, or package-lock.json changed since they were installed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing the Node packages (npm ci)"
  npm ci --no-audit --no-fund
fi

root=false
[ "$(id -u)" = 0 ] && root=true

# moto's server, the AWS emulator the EC2 adapters are tested against (test/integration/ec2-grants.test.ts).
if ! command -v moto_server >/dev/null 2>&1; then
  say "installing moto's server, the AWS emulator (pip install moto[server]==5.2.1)"
  python3 -m pip install --quiet 'moto[server]==5.2.1' >&2 ||
    { say "could not install moto[server] with pip: install it by hand (python3 -m pip install 'moto[server]==5.2.1')"; exit 1; }
fi

# What is missing, as Debian package names ("postgresql" stands for the server, chosen below).
missing=()
have_postgres() { ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; }
have_postgres || missing+=(postgresql)
# The model checker of the peer-lease protocol (model/peer-leases.pml) and the compiler its verifier needs.
command -v spin >/dev/null 2>&1 || missing+=(spin)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if $root; then
  # The network lab is built only as root: namespaces and veths (iproute2), silent drops (iptables), a
  # node's wall-clock steps (libfaketime). Without root the local mode runs on loopback and needs none.
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing+=(faketime)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  say "missing: ${missing[*]}, and this is not a Debian or Ubuntu machine: install a PostgreSQL 15 server by hand"
  exit 1
fi

# PostgreSQL 15 where the distribution has it (Debian 12); otherwise its own version (Ubuntu 24.04: 16).
packages() {
  local server=postgresql name
  apt-cache show postgresql-15 >/dev/null 2>&1 && server=postgresql-15
  for name in "${missing[@]}"; do
    if [ "$name" = postgresql ]; then echo "$server"; else echo "$name"; fi
  done
}

if ! $root; then
  say "missing: $(packages | tr "\n" " ")- install it once, as root, with:"
  say "  sudo apt-get install -y $(packages | tr '\n' ' ')"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
mapfile -t install < <(packages)

# The server package would create and start a "main" cluster of its own; the local mode makes its own and
# nothing may be left running. A drop-in says so while the package installs (postgresql-common reads
# createcluster.d), and a cluster that appears anyway (an older postgresql-common) is dropped.
dropin=/etc/postgresql-common/createcluster.d/pgfailover-setup.conf
made_dir=false
if ! have_postgres; then
  [ -d /etc/postgresql-common/createcluster.d ] || { mkdir -p /etc/postgresql-common/createcluster.d; made_dir=true; }
  echo 'create_main_cluster = false' >"$dropin"
fi
cleanup() {
  rm -f "$dropin"
  if $made_dir; then rmdir /etc/postgresql-common/createcluster.d 2>/dev/null || true; fi
}
trap cleanup EXIT

clusters() { if command -v pg_lsclusters >/dev/null 2>&1; then pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}'; fi; }
before=$(clusters)
say "installing ${install[*]} (apt-get)"
apt-get install -y -q --no-install-recommends "${install[@]}" >&2

# Only a cluster this install made is dropped; any that was there before is left as it is.
clusters | while read -r version cluster; do
  [ -n "$version" ] || continue
  if ! grep -qxF "$version $cluster" <<<"$before"; then
    say "dropping the cluster $version/$cluster that the package created (the local mode makes its own)"
    pg_dropcluster --stop "$version" "$cluster" >&2
  fi
done
