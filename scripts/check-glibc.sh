#!/usr/bin/env bash
# Fails when an ELF executable needs a newer glibc than the oldest one we promise to run on.
#
# The dynamic loader refuses to start a program that references a symbol version its glibc does
# not define ("version `GLIBC_2.34' not found"), so the newest GLIBC_x.y in the binary's dynamic
# symbol table is exactly the oldest glibc that can run it. Every offending symbol is printed (a
# name says which call to avoid), then the script exits 1. A GLIBC_PRIVATE reference offends too:
# it ties the binary to one glibc build.
#
# Usage: scripts/check-glibc.sh BINARY [MAX_VERSION]     (MAX_VERSION defaults to 2.17)
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BINARY [MAX_GLIBC_VERSION]" >&2
  exit 2
fi
bin=$1
max=${2:-2.17}

if [ ! -f "$bin" ]; then
  echo "ERROR: $bin does not exist" >&2
  exit 2
fi
if ! command -v objdump >/dev/null 2>&1 || ! command -v readelf >/dev/null 2>&1; then
  echo "ERROR: objdump and readelf (binutils) are needed to read $bin's dynamic symbols" >&2
  exit 2
fi

if ! readelf -h "$bin" >/dev/null 2>&1; then
  echo "ERROR: $bin is not an ELF file" >&2
  exit 2
fi
# A statically linked program has no dynamic section, so no loader checks any glibc version.
if ! readelf -d "$bin" | grep -q 'Dynamic section'; then
  echo "$bin: statically linked (no dynamic section): needs no glibc at run time"
  exit 0
fi

# objdump -T lines end in "<version> <name>", e.g.
#   0000000000000000      DF *UND*  0000000000000000 (GLIBC_2.34) __libc_start_main
# ("(GLIBC_2.2.5)" in parentheses for hidden/undefined versions, bare for defined ones).
if ! dyn=$(objdump -T "$bin" 2>&1); then
  echo "ERROR: objdump cannot read $bin: $dyn" >&2
  exit 2
fi

newest=""
offending=0
while read -r version name; do
  case "$version" in
    GLIBC_PRIVATE)
      echo "  $name needs GLIBC_PRIVATE (tied to one glibc build)"
      offending=$((offending + 1))
      continue
      ;;
  esac
  v=${version#GLIBC_}
  if [ -z "$newest" ] || [ "$(printf '%s\n%s\n' "$newest" "$v" | sort -V | tail -n1)" = "$v" ]; then
    newest=$v
  fi
  if [ "$(printf '%s\n%s\n' "$max" "$v" | sort -V | tail -n1)" != "$max" ]; then
    echo "  $name needs GLIBC_$v"
    offending=$((offending + 1))
  fi
done < <(printf '%s\n' "$dyn" | sed -nE 's/.*[( ](GLIBC_[0-9.]+|GLIBC_PRIVATE)\)? +([^ ]+)$/\1 \2/p' | sort -u)

# The loader checks the version-needs section (.gnu.version_r), not the symbol list: read it too,
# so a version needed by no listed symbol still counts.
while read -r v; do
  if [ "$(printf '%s\n%s\n' "$max" "$v" | sort -V | tail -n1)" != "$max" ]; then
    echo "  the version-needs section requires GLIBC_$v"
    offending=$((offending + 1))
  fi
done < <(readelf -V -W "$bin" | sed -nE 's/.*Name: GLIBC_([0-9.]+) .*/\1/p' | sort -u)

if [ -z "$newest" ]; then
  echo "$bin: references no versioned glibc symbol (static, or not linked with glibc)"
fi
if [ "$offending" -gt 0 ]; then
  echo "ERROR: $bin needs glibc newer than $max ($offending finding(s) listed above); it will not start on glibc $max" >&2
  exit 1
fi
[ -n "$newest" ] && echo "$bin: newest glibc symbol version GLIBC_$newest (at most GLIBC_$max: ok)"
exit 0
