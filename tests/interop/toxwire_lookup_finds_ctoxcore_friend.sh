#!/usr/bin/env bash
# toxwire_lookup_finds_ctoxcore_friend.sh: a toxwire onion client in a
# network of c-toxcore nodes learns a c-toxcore friend's DHT key through
# the onion.
#
# In a private network namespace (loopback only): tox-bootstrapd on
# 127.0.0.1:33445, four c-toxcore peers and the friend `f` (toxcore_peer,
# bootstrapping only from tox-bootstrapd; IPv6, LAN discovery and TCP off).
# f adds toxwire's long-term key as a friend (tox_friend_add_norequest).
# `toxwire lookup` joins through tox-bootstrapd alone and looks for f.
# Checks:
#   - toxwire announces itself on c-toxcore announce nodes ("announced N");
#   - it receives f's DHT public key packet through the onion (a data to
#     route packet from f's side: "route onion") carrying f's real DHT key
#     (the key toxcore_peer reports with tox_self_get_dht_id).
# f sends that packet only after it found toxwire's announcement and got
# toxwire's own DHT key packet, so both directions of the onion work. No
# friend connection follows: toxwire has no net_crypto yet.
#
# Usage (as root; re-execs itself under tests/interop/netns-run):
#   TOXWIRE=path/to/toxwire TOXCORE_PEER=path/to/toxcore_peer \
#       tests/interop/toxwire_lookup_finds_ctoxcore_friend.sh
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_need tox-bootstrapd
tw_init
tw_toxwire_bin

BUDGET=${TW_LOOKUP_BUDGET:-60}
tw_bootstrapd_start bd 33445 "" "tox-bootstrapd for toxwire lookup"
BOOT="127.0.0.1:33445:${TW_KEY[bd]}"
for i in 1 2 3 4; do
    tw_peer_start "p$i" --bootstrap "$BOOT" --local-discovery off --ipv6 off --name "peer $i" --timeout 150
done
tw_peer_start f --bootstrap "$BOOT" --local-discovery off --ipv6 off --name friend --timeout 150

mkdir -p "$TW_TMP/lk"
LK_PK=$("$TW_TOXWIRE_BIN" id --keys "$TW_TMP/lk/keys" 2>/dev/null)
check "toxwire long-term key made ($LK_PK)" test "${#LK_PK}" -eq 64
tw_peer_send f "accept $LK_PK"
check "f adds toxwire's key as a friend" wait_for_line "$(tw_log f)" "^friend_added 0 $LK_PK\$" 5
F_PK=$(tw_toxid_pk "${TW_TOXID[f]}")
F_DHT=${TW_KEY[f]}

tw_note "start toxwire lookup for f (t=$(tw_elapsed)s)"
tw_start lk "$TW_TOXWIRE_BIN" lookup --keys "$TW_TMP/lk/keys" --friend "${TW_TOXID[f]}" \
    --bootstrap "$BOOT" --ipv4-only --stay --timeout $((BUDGET + 30)) --log-level info
check "toxwire lookup starts" wait_for_line "$(tw_log lk)" "^self $LK_PK dht [0-9A-F]{64} port [0-9]+\$" 10
check "toxwire is announced on c-toxcore announce nodes" \
    wait_for_line "$(tw_log lk)" '^announced [1-9][0-9]*$' "$BUDGET"
tcheck "toxwire learns f's DHT key through the onion" \
    wait_for_line "$(tw_log lk)" "^friend_dht_key $F_PK [0-9A-F]{64} route onion after " "$BUDGET"
line=$(grep -m1 "^friend_dht_key $F_PK [0-9A-F]* route onion" "$(tw_log lk)")
check "the key is f's DHT key ($F_DHT)" test "$(awk '{ print $3 }' <<<"$line")" = "$F_DHT"
tw_note "learned: $line"
grep "route dht" "$(tw_log lk)" | head -1 | sed 's/^/# also: /'
check "toxwire lookup still running, log clean" tw_log_clean lk
tw_summary
