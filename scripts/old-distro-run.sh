#!/usr/bin/env bash
# Runs the release binary inside an older distribution's root filesystem, to show it starts on an
# older glibc than the build machine's. Not part of CI (a debootstrap downloads ~40 MB and takes a
# few minutes); docs/install.md records the last result.
#
# Needs root (debootstrap and chroot) and Debian's package mirror. The default suite is bullseye
# (Debian 11, glibc 2.31 — older than the 2.34 a plain build needs): the oldest suite the Debian
# mirror still serves; older ones (buster 2.28, stretch 2.24) have moved to the archive, which
# this machine cannot reach. The 2.17 floor itself is proven by scripts/check-glibc.sh.
#
# Usage: scripts/old-distro-run.sh [BINARY]        (default: the one scripts/release.sh made)
# Env:   OLD_DISTRO_SUITE   Debian suite to bootstrap [default: bullseye]
#        OLD_DISTRO_ROOT    where the root filesystem goes [default: target/old-distro/<suite>];
#                           kept between runs (the bootstrap is skipped when it is already there)
#        OLD_DISTRO_MIRROR  [default: http://deb.debian.org/debian]
set -euo pipefail
cd "$(dirname "$0")/.."

suite=${OLD_DISTRO_SUITE:-bullseye}
root=${OLD_DISTRO_ROOT:-target/old-distro/$suite}
mirror=${OLD_DISTRO_MIRROR:-http://deb.debian.org/debian}

if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: the old-distribution run needs root (debootstrap, chroot); run it as root" >&2
  exit 1
fi

bin=${1:-}
if [ -z "$bin" ]; then
  version=$(cargo pkgid --locked 2>/dev/null | sed -E 's/.*[#@]//')
  bin="dist/msgraph-keystore-$version-x86_64-linux"
fi
if [ ! -x "$bin" ]; then
  echo "ERROR: $bin does not exist; build it first with scripts/release.sh" >&2
  exit 1
fi

if [ ! -x "$root/usr/bin/ldd" ]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "installing debootstrap (Debian package)" >&2
    apt-get install -y -q debootstrap >&2
  fi
  echo "== debootstrap --variant=minbase $suite into $root" >&2
  rm -rf "$root"
  mkdir -p "$(dirname "$root")"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >&2
fi

# Copy the binary in (a chroot cannot see the checkout) and run it with the rootfs's own loader
# and glibc; /proc is mounted for the run only, as a container runtime would.
mkdir -p "$root/opt/msgraph-keystore"
install -m 0755 "$bin" "$root/opt/msgraph-keystore/msgraph-keystore"
mounted=0
cleanup() { if [ "$mounted" = 1 ]; then umount "$root/proc" || true; fi; }
trap cleanup EXIT
if ! mountpoint -q "$root/proc"; then
  mount -t proc proc "$root/proc" && mounted=1
fi

echo "== inside $suite: $(chroot "$root" /bin/sh -c 'cat /etc/debian_version; ldd --version | head -n1')"
echo "== msgraph-keystore --version"
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root /opt/msgraph-keystore/msgraph-keystore --version
echo "== msgraph-keystore demo"
rm -rf "$root/tmp/old-distro-demo"
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root /opt/msgraph-keystore/msgraph-keystore demo --config /tmp/old-distro-demo

# Contrast: a build linked against this machine's glibc (plain `cargo build`), when one is at hand,
# should be refused by the older loader — showing the run above proves something.
for host_build in target/release/msgraph-keystore target/debug/msgraph-keystore; do
  [ -x "$host_build" ] || continue
  install -m 0755 "$host_build" "$root/opt/msgraph-keystore/host-build"
  echo "== contrast: $host_build (linked against this machine's glibc) --version"
  if chroot "$root" /usr/bin/env -i /opt/msgraph-keystore/host-build --version; then
    echo "(it runs here too: $suite's glibc is new enough for a plain build)"
  fi
  rm -f "$root/opt/msgraph-keystore/host-build"
  break
done
echo "== $suite: --version and demo ran"
