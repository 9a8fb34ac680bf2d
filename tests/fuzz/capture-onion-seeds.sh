#!/usr/bin/env bash
# Captures real c-toxcore onion datagrams (kinds 0x80-0x88, 0x8c-0x8e) for
# the onion fuzz seed corpora; the onion counterpart of capture-seeds.sh.
#
# In a private network namespace (tests/interop/netns-run): 8 `toxwire
# bootstrap` nodes, the first holding the fixed fuzz key pair
# (tests/fuzz/fuzz_common.h) and saving what it receives (--capture), and two
# c-toxcore clients (tests/interop/toxcore_peer) that use only these nodes
# as onion relays and announce nodes and befriend each other. Datagrams
# sealed to the first node open in fuzz_onion_packet / fuzz_onion_wire.
# They land in OUT/cap/KIND-N.bin; pick a few per onion kind into
# corpus/onion_packet and corpus/onion_wire by hand.
#
# usage (as root): TOXWIRE=build/tools/toxwire TOXCORE_PEER=... \
#     tests/fuzz/capture-onion-seeds.sh [OUT]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/toxwire-onion-capture}
. "$here/../interop/lib.sh"
tw_require_netns "$@"
tw_init

NODES=8
BASE=33445
mkdir -p "$out" "$TW_TMP/tw1"
rm -rf "$out/cap"
mkdir -p "$out/cap"
# The fixed key pair as a keys file: public key then secret key.
python3 - "$here/fuzz_common.h" "$TW_TMP/tw1/keys" <<'PY'
import ctypes, ctypes.util, re, sys
src = open(sys.argv[1]).read()
body = src[src.index("FUZZ_CAPTURE_SK"):]
body = body[body.index("{") + 1:body.index("}")]
sk = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-fA-F]{2})", body))
assert len(sk) == 32
lib = ctypes.CDLL(ctypes.util.find_library("sodium"))
lib.sodium_init()
pk = ctypes.create_string_buffer(32)
lib.crypto_scalarmult_curve25519_base(pk, sk)
open(sys.argv[2], "wb").write(pk.raw + sk)
PY
chmod 600 "$TW_TMP/tw1/keys"

tw_toxwire_start tw1 "$BASE" --capture "$out/cap"
for i in $(seq 2 "$NODES"); do
    tw_toxwire_start "tw$i" $((BASE + i - 1)) --bootstrap "127.0.0.1:$BASE:${TW_KEY[tw1]}"
done
tw_peer_start p1 --bootstrap "127.0.0.1:$BASE:${TW_KEY[tw1]}" \
    --bootstrap "127.0.0.1:$((BASE + 4)):${TW_KEY[tw5]}" \
    --local-discovery off --ipv6 off --name p1 --timeout 120
tw_peer_start p2 --bootstrap "127.0.0.1:$((BASE + 1)):${TW_KEY[tw2]}" \
    --bootstrap "127.0.0.1:$((BASE + 7)):${TW_KEY[tw8]}" \
    --local-discovery off --ipv6 off --name p2 --timeout 120
tw_wait_connected $(($(date +%s) + 30)) p1 p2
tw_befriend p1 p2 45
sleep 5
tw_stop p1
tw_stop p2
for i in $(seq 1 "$NODES"); do tw_stop "tw$i"; done
ls "$out/cap"
echo "captured into $out/cap"
