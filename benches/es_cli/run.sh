#!/usr/bin/env bash
# Side-by-side: `msgraph-keystore keystore add` (whole process, release build) against a lower
# bound for Elasticsearch's own CLI (JVM start + two JDK PBKDF2-SHA512-210k derivations + one
# AES-GCM encryption, see KeystoreAddEstimate.java), and one OpenSSL derivation (Python's
# hashlib) as the common baseline, all measured in this one run. Needs java/javac and python3.
# Usage: benches/es_cli/run.sh [runs]   (from the repository root)
set -euo pipefail
runs=${1:-7}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/msgraph-keystore"
javac -d "$work" "$root/benches/es_cli/KeystoreAddEstimate.java"
mkdir -p "$work/config"
"$bin" keystore create --config "$work/config" --format-version 6 -s

python3 - "$runs" "$bin" "$work" <<'PY'
import hashlib, os, statistics, subprocess, sys, time
runs, binary, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def wall(cmd, stdin=None):
    t = time.perf_counter()
    subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t
def openssl():
    salt = os.urandom(64)
    t = time.perf_counter()
    hashlib.pbkdf2_hmac("sha512", b"", salt, 210_000, 16)
    return time.perf_counter() - t
add = [binary, "keystore", "add", "-x", "-f", "--config", os.path.join(work, "config"), "bench.setting"]
java = ["java", "-cp", work, "KeystoreAddEstimate"]
res = {"openssl": [], "add": [], "java": []}
for _ in range(runs):
    res["openssl"].append(openssl())
    res["add"].append(wall(add, b"value\n"))
    res["java"].append(wall(java))
base = min(res["openssl"])
print(f"cpu: {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
print(f"load average: {os.getloadavg()[0]:.2f}")
for name, label in [("openssl", "one OpenSSL PBKDF2-SHA512-210k (baseline)"),
                    ("add", "msgraph-keystore keystore add (whole process)"),
                    ("java", "JVM + 2 JDK derivations (lower bound for elasticsearch-keystore add)")]:
    v = res[name]
    print(f"{label:<72} min {min(v)*1000:7.1f} ms  median {statistics.median(v)*1000:7.1f} ms  = {min(v)/base:5.2f}x baseline")
print(f"msgraph-keystore add / JVM estimate: {min(res['add'])/min(res['java']):.2f}x (min), "
      f"{statistics.median(res['add'])/statistics.median(res['java']):.2f}x (median)")
PY
