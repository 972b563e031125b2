#!/usr/bin/env bash
# Builds the portable release binary:
#   dist/msgraph-keystore-<version>-x86_64-linux          stripped, runs on glibc 2.17 or newer
#   dist/msgraph-keystore-<version>-x86_64-linux.sha256   `sha256sum -c` format
#
# A plain `cargo build --release` links against this machine's glibc (2.36) and so needs
# GLIBC_2.34 at run time. cargo-zigbuild links against Zig's glibc 2.17 stubs instead (the
# ".2.17" suffix of the target); see docs/install.md for why this route and what it costs.
#
# The build goes to its own target dir (target/dist by default) so it never invalidates the
# `cargo build --release` / `cargo test` artifacts in target/.
#
# Usage: scripts/release.sh
# Env:   RELEASE_TARGET_DIR  cargo target dir for the release build [default: target/dist]
#        MSGRAPH_KEYSTORE_TOOLS  where the pinned toolchain is installed (scripts/install-zigbuild.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

GLIBC_FLOOR=2.17
triple=x86_64-unknown-linux-gnu

for tool in cargo strip sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "ERROR: $tool is needed to build the release binary" >&2
    exit 1
  fi
done

# The version is the package's, as cargo sees it ("path+file:///…#msgraph-keystore@0.1.0" or "…#0.1.0").
version=$(cargo pkgid --locked 2>/dev/null | sed -E 's/.*[#@]//')
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  echo "ERROR: cannot read the package version from cargo pkgid (got '$version')" >&2
  exit 1
fi
name="msgraph-keystore-$version-x86_64-linux"

tools_bin=$(scripts/install-zigbuild.sh)
export PATH="$tools_bin:$PATH"

target_dir=${RELEASE_TARGET_DIR:-target/dist}
echo "== release build: $name (glibc >= $GLIBC_FLOOR) into $target_dir" >&2
cargo zigbuild --release --locked --target "$triple.$GLIBC_FLOOR" --target-dir "$target_dir"

built="$target_dir/$triple/release/msgraph-keystore"
if [ ! -x "$built" ]; then
  echo "ERROR: the build finished but $built is not there" >&2
  exit 1
fi

mkdir -p dist
# Write under a temporary name and rename, so dist/ never holds a half-written binary under
# the real name, and an earlier artifact is replaced whole.
tmp="dist/.$name.tmp.$$"
trap 'rm -f "$tmp" "$tmp.sha256"' EXIT
cp "$built" "$tmp"
strip --strip-all "$tmp"
chmod 0755 "$tmp"
mv -f "$tmp" "dist/$name"
# Computed from inside dist/ so the line names the file as it sits beside it: `sha256sum -c` works there.
sum=$(cd dist && sha256sum "$name")
printf '%s\n' "$sum" > "$tmp.sha256"
mv -f "$tmp.sha256" "dist/$name.sha256"

size=$(stat -c %s "dist/$name")
echo "dist/$name: $size bytes, sha256 $(cut -d' ' -f1 "dist/$name.sha256")" >&2
