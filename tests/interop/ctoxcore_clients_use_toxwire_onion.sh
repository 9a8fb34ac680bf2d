#!/usr/bin/env bash
# ctoxcore_clients_use_toxwire_onion.sh: the only onion relays and announce
# nodes in the network are toxwire's, and two c-toxcore clients still find
# each other through them.
#
# In a private network namespace (loopback only): 8 `toxwire bootstrap`
# nodes on 127.0.0.1:33445-33452 (each bootstraps from the first) and two
# toxcore_peer clients that bootstrap only from toxwire nodes (no LAN
# discovery, no IPv6, no TCP). A friend request travels only through onion
# paths: the sender must find the receiver's announce nodes and send a data
# to route packet through one. Checks:
#   - control: with every toxwire node started with --no-onion, the request
#     does NOT arrive within the control budget (so the c-toxcore clients
#     cannot do it alone: each path needs three relaying nodes, and two
#     clients are not enough), and neither client ever reports itself
#     connected (c-toxcore 0.2.18's self connection status follows its
#     onion, not its DHT);
#   - with the onion on: the request arrives, the friends connect over
#     UDP and exchange messages with read receipts;
#   - toxwire's counters: onion requests relayed at each layer, responses
#     relayed, announcements stored, data to route requests routed.
#
# Usage (as root; re-execs itself under tests/interop/netns-run):
#   TOXWIRE=path/to/toxwire TOXCORE_PEER=path/to/toxcore_peer \
#       tests/interop/ctoxcore_clients_use_toxwire_onion.sh
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_init
tw_toxwire_bin

NODES=8
BASE=33445
CONTROL_BUDGET=${TW_ONION_CONTROL_BUDGET:-20}

start_nodes() { # start_nodes PREFIX [ARGS...]
    local prefix=$1 i; shift
    tw_toxwire_start "${prefix}1" "$BASE" "$@"
    for i in $(seq 2 "$NODES"); do
        tw_toxwire_start "$prefix$i" $((BASE + i - 1)) \
            --bootstrap "127.0.0.1:$BASE:${TW_KEY[${prefix}1]}" "$@"
    done
}
stop_nodes() { local i; for i in $(seq 1 "$NODES"); do tw_stop "$1$i"; done; }
start_peers() { # start_peers P1 P2 NODEPREFIX
    tw_peer_start "$1" --bootstrap "127.0.0.1:$BASE:${TW_KEY[${3}1]}" \
        --bootstrap "127.0.0.1:$((BASE + 4)):${TW_KEY[${3}5]}" \
        --local-discovery off --ipv6 off --name "$1" --timeout 120
    tw_peer_start "$2" --bootstrap "127.0.0.1:$((BASE + 1)):${TW_KEY[${3}2]}" \
        --bootstrap "127.0.0.1:$((BASE + 7)):${TW_KEY[${3}8]}" \
        --local-discovery off --ipv6 off --name "$2" --timeout 120
}
sum_status() { # sum_status PREFIX FIELD
    local i s=0 v
    for i in $(seq 1 "$NODES"); do
        v=$(tw_status_value "$1$i" "$2"); s=$((s + ${v:-0}))
    done
    echo "$s"
}

# ---- control: toxwire nodes without the onion
tw_note "control: $NODES toxwire nodes with --no-onion (t=$(tw_elapsed)s)"
start_nodes n --no-onion
start_peers c1 c2 n
tw_peer_send c1 "add ${TW_TOXID[c2]} control request"
if wait_for_line "$(tw_log c2)" "^friend_request " "$CONTROL_BUDGET" >/dev/null; then
    fail "control: no friend request arrives in ${CONTROL_BUDGET}s when toxwire drops onion packets"
else
    pass "control: no friend request arrives in ${CONTROL_BUDGET}s when toxwire drops onion packets"
fi
# c-toxcore reports itself connected only once its onion works.
check "control: neither client reports itself connected without onion relays" \
    bash -c "! grep -qE '^self_connection (TCP|UDP)\$' '$(tw_log c1)' '$(tw_log c2)'"
tw_stop c1; tw_stop c2; stop_nodes n

# ---- the real run
tw_note "$NODES toxwire nodes with the onion on (t=$(tw_elapsed)s)"
start_nodes tw
start_peers p1 p2 tw
tw_wait_connected $(($(date +%s) + 30)) p1 p2
tw_note "both online at t=$(tw_elapsed)s; friends p1 <-> p2"
T0=$(date +%s.%N)
tw_befriend p1 p2 45
tw_note "friend request and connection took $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
tw_send_and_confirm p1 p2 normal "hello p2, through toxwire's onion" "hello p2, through toxwire's onion"
tw_send_and_confirm p2 p1 normal "hello back" "hello back"

sleep 1.2 # one more status write
for f in onion_requests_relayed onion_responses_relayed announcements_stored data_requests_routed; do
    check "toxwire nodes: $f > 0 (sum $(sum_status tw "$f"))" test "$(sum_status tw "$f")" -gt 0
done
layers=$(for i in $(seq 1 "$NODES"); do awk '$1 == "onion_requests_relayed_by_layer" { print $2, $3, $4 }' "$(tw_status "tw$i")"; done |
    awk '{ a += $1; b += $2; c += $3 } END { print a + 0, b + 0, c + 0 }')
read -r l0 l1 l2 <<<"$layers"
check "toxwire relayed every layer (0x80: $l0, 0x81: $l1, 0x82: $l2)" \
    test "$l0" -gt 0 -a "$l1" -gt 0 -a "$l2" -gt 0
for i in $(seq 1 "$NODES"); do
    check "tw$i still running, log clean" tw_log_clean "tw$i"
done
tw_summary
