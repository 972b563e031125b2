#!/usr/bin/env bash
# CI's release check (called by .ci/run after the tests): builds the portable binary with
# scripts/release.sh and proves it is what docs/install.md promises — glibc 2.17 or newer,
# only glibc's own libraries, stripped, a checksum that verifies, and it runs (`--version`, `demo`).
# Each check prints one line; the script ends with "release checks: N passed, N failed" and
# exits non-zero if any check failed.
set -euo pipefail
cd "$(dirname "$0")/.."

GLIBC_FLOOR=2.17
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }

# objdump, readelf and strip come with binutils (on this machine kind's image already); install it
# when missing rather than skip a check.
if ! command -v objdump >/dev/null || ! command -v readelf >/dev/null || ! command -v strip >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q binutils >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q binutils >/dev/null; }
  else
    echo "ERROR: objdump, readelf and strip (binutils) are needed; install binutils" >&2
    exit 1
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 0. The glibc check must bite: a binary linked on this machine (its own ls, glibc 2.36) has to
#    fail it, or a passing check below would prove nothing.
control=$(command -v ls)
if scripts/check-glibc.sh "$control" "$GLIBC_FLOOR" > "$work/control.out" 2>&1; then
  if grep -qE 'references no versioned glibc symbol|statically linked' "$work/control.out"; then
    echo "skipped: control — $control is not linked with glibc on this machine, so it cannot show the glibc check detects new symbols"
  elif ! scripts/check-glibc.sh "$control" 2.0 > /dev/null 2>&1; then
    ok "check-glibc.sh rejects $control against a 2.0 floor (this machine's $control needs nothing newer than $GLIBC_FLOOR)"
  else
    bad "check-glibc.sh accepts $control even with a 2.0 floor: it cannot detect versioned symbols"
  fi
else
  ok "check-glibc.sh rejects this machine's $control ($(grep -c 'needs GLIBC_' "$work/control.out") symbols newer than $GLIBC_FLOOR)"
fi

# 1. Build.
start=$(date +%s)
scripts/release.sh
echo "release build took $(($(date +%s) - start)) s"
version=$(cargo pkgid --locked | sed -E 's/.*[#@]//')
name="msgraph-keystore-$version-x86_64-linux"
bin="dist/$name"
if [ -x "$bin" ]; then ok "$bin built ($(stat -c %s "$bin") bytes)"; else bad "$bin was not built"; fi

# 2. Checksum file in `sha256sum -c` format, next to the binary.
if (cd dist && sha256sum -c "$name.sha256"); then ok "$name.sha256 verifies with sha256sum -c"; else bad "$name.sha256 does not verify"; fi

# 3. No symbol newer than the floor (prints every offender).
if scripts/check-glibc.sh "$bin" "$GLIBC_FLOOR"; then ok "no glibc symbol newer than $GLIBC_FLOOR"; else bad "glibc symbols newer than $GLIBC_FLOOR (listed above)"; fi

# 4. Only libraries every glibc system has (no OpenSSL or other distro library), through the
#    standard x86-64 loader.
needed=$(readelf -d -W "$bin" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p' | sort | tr '\n' ' ')
extra=""
for lib in $needed; do
  case "$lib" in
    libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | librt.so.1 | libutil.so.1 | libgcc_s.so.1 | ld-linux-x86-64.so.2) ;;
    *) extra="$extra $lib" ;;
  esac
done
if [ -z "$extra" ]; then ok "needs only glibc's libraries: $needed"; else bad "needs libraries outside glibc:$extra"; fi
interp=$(readelf -l -W "$bin" | sed -nE 's/.*Requesting program interpreter: (.*)\]/\1/p')
if [ "$interp" = "/lib64/ld-linux-x86-64.so.2" ]; then ok "loader $interp"; else bad "unexpected program interpreter '$interp'"; fi

# 5. Stripped: no static symbol table, no debug sections.
if readelf -S -W "$bin" | grep -qE '\.(symtab|debug_)'; then bad "$bin is not stripped"; else ok "stripped"; fi

# 6. It runs.
out=$("$bin" --version 2>&1) || true
if [ "$out" = "msgraph-keystore $version" ]; then
  ok "--version prints '$out'"
else
  bad "--version printed '$out', expected 'msgraph-keystore $version'"
fi
if "$bin" demo --config "$work/demo" > "$work/demo.out" 2>&1 && [ -s "$work/demo/elasticsearch.keystore" ]; then
  ok "demo ran (setup, verify, list against the built-in tenant; keystore written)"
else
  cat "$work/demo.out"
  bad "demo failed (output above)"
fi

echo "release checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
