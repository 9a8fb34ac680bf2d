#!/usr/bin/env bash
# Captures real c-toxcore DHT datagrams for the fuzz seed corpora.
#
# In a private network namespace: a `toxwire bootstrap` node holding the
# fixed fuzz key pair (tests/fuzz/fuzz_common.h) saves what it receives;
# tox-bootstrapd and DHT_bootstrap (c-toxcore) bootstrap from it and talk to
# it for ~10 s; tox-bootstrapd's answer to a Bootstrap Info request is kept
# too. The datagrams land in OUT/cap/KIND-N.bin; pick a few per kind into
# corpus/dht_packet and corpus/dht_wire by hand.
#
# usage: sudo tests/fuzz/capture-seeds.sh [OUT]   (needs unshare -n, i.e. root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
toxwire=${TOXWIRE:-$root/build/tools/toxwire}
out=${1:-/tmp/toxwire-fuzz-capture}

if [ "${TW_IN_NETNS:-}" != 1 ]; then
  command -v tox-bootstrapd >/dev/null || { echo "needs tox-bootstrapd" >&2; exit 1; }
  [ -x "$toxwire" ] || { echo "needs $toxwire (make build)" >&2; exit 1; }
  mkdir -p "$out"
  exec env TW_IN_NETNS=1 TOXWIRE="$toxwire" unshare -n "$0" "$out"
fi

ip link set lo up
cd "$out"
rm -rf cap dhtb && mkdir -p cap dhtb
# The fixed key pair: public key then secret key, as a keys file.
python3 - "$here/fuzz_common.h" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
body = src[src.index("FUZZ_CAPTURE_SK"):]
body = body[body.index("{") + 1:body.index("}")]
sk = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-fA-F]{2})", body))
assert len(sk) == 32
open("sk.bin", "wb").write(sk)
PY
pk=$(python3 - <<'PY'
import ctypes, ctypes.util
lib = ctypes.CDLL(ctypes.util.find_library("sodium"))
lib.sodium_init()
sk = open("sk.bin", "rb").read()
pk = ctypes.create_string_buffer(32)
lib.crypto_scalarmult_curve25519_base(pk, sk)
open("keys", "wb").write(pk.raw + sk)
print(pk.raw.hex().upper())
PY
)
rm -f sk.bin
chmod 600 keys

cat > bootstrapd.conf <<EOF
port = 33446
keys_file_path = "$out/bsd-keys"
pid_file_path = "$out/bsd.pid"
enable_ipv6 = false
enable_ipv4_fallback = true
enable_lan_discovery = false
enable_tcp_relay = false
enable_motd = true
motd = "captured by toxwire fuzz seeding"
bootstrap_nodes = (
  { address = "127.0.0.1"; port = 33500; public_key = "$pk"; }
)
EOF

"$toxwire" bootstrap --keys "$out/keys" --port 33500 --ipv4-only --capture "$out/cap" \
  >toxwire.log 2>&1 &
pids=($!)
sleep 0.5
tox-bootstrapd --config "$out/bootstrapd.conf" --foreground --log-backend stdout >bsd.log 2>&1 &
pids+=($!)
if command -v DHT_bootstrap >/dev/null; then
  (cd dhtb && exec DHT_bootstrap --ipv4 127.0.0.1 33500 "$pk") >dhtb.log 2>&1 &
  pids+=($!)
fi
sleep 3
python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"\xf0" + b"\x00" * 77, ("127.0.0.1", 33446))
try:
    data, _ = s.recvfrom(2048)
    open("bootstrap-info-response.bin", "wb").write(data)
except OSError as e:
    print("no Bootstrap Info answer:", e)
PY
sleep 8
kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
ls cap
echo "captured into $out/cap (and $out/bootstrap-info-response.bin)"
