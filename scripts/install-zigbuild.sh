#!/usr/bin/env bash
# Installs the release toolchain — cargo-zigbuild and the Zig compiler it links with — at pinned
# versions into a private Python virtual environment, and prints that environment's bin directory.
#
# Why these: the machine's own glibc is 2.36, so a plain `cargo build --release` asks for
# GLIBC_2.34 symbols. cargo-zigbuild links against Zig's glibc stubs for the version named in the
# target (x86_64-unknown-linux-gnu.2.17), and Zig's C compiler builds ring's C code for it too.
# Both come from PyPI as prebuilt wheels (about 10 s, against minutes for `cargo install
# cargo-zigbuild`; see docs/install.md), and a venv keeps them out of the system's Python.
#
# Idempotent: when the venv already holds exactly the pinned versions, nothing is downloaded.
# Usage: scripts/install-zigbuild.sh            (prints the bin directory on stdout)
# Env:   MSGRAPH_KEYSTORE_TOOLS  where the venv goes [default: ~/.cache/msgraph-keystore]
set -euo pipefail

CARGO_ZIGBUILD_VERSION=0.24.1
ZIGLANG_VERSION=0.17.1

tools="${MSGRAPH_KEYSTORE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/msgraph-keystore}"
venv="$tools/zigbuild-$CARGO_ZIGBUILD_VERSION-zig-$ZIGLANG_VERSION"

installed() {
  [ -x "$venv/bin/cargo-zigbuild" ] || return 1
  [ "$("$venv/bin/cargo-zigbuild" --version 2>/dev/null)" = "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ] || return 1
  [ "$("$venv/bin/python" -m ziglang version 2>/dev/null)" = "$ZIGLANG_VERSION" ] || return 1
}

if installed; then
  echo "release toolchain: cargo-zigbuild $CARGO_ZIGBUILD_VERSION, zig $ZIGLANG_VERSION already in $venv" >&2
else
  if ! command -v python3 >/dev/null 2>&1; then
    echo "ERROR: python3 is needed to install cargo-zigbuild and ziglang from PyPI" >&2
    exit 1
  fi
  echo "release toolchain: installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION and ziglang $ZIGLANG_VERSION into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$tools"
  if ! python3 -m venv "$venv" >&2; then
    rm -rf "$venv"
    echo "ERROR: python3 -m venv failed; on Debian/Ubuntu install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" "ziglang==$ZIGLANG_VERSION" >&2
  if ! installed; then
    echo "ERROR: $venv does not hold cargo-zigbuild $CARGO_ZIGBUILD_VERSION and zig $ZIGLANG_VERSION after installing them" >&2
    exit 1
  fi
fi
echo "$venv/bin"
