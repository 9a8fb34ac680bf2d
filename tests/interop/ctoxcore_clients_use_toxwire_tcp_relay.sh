#!/usr/bin/env bash
# ctoxcore_clients_use_toxwire_tcp_relay.sh: two c-toxcore clients with UDP
# off, whose only TCP relay is `toxwire bootstrap --tcp-port`, become
# friends and exchange messages and a file through it.
#
# In a private network namespace (loopback only): toxwire bootstrap nodes
# n1..n3 (DHT, onion), n1 also a TCP relay on its UDP port number; c-toxcore clients
# c1 and c2 (toxcore_peer --udp off --tcp-relay n1). Checks:
#   1. the relay serves: a handshake from each client is confirmed (status
#      file), and it relays their onion traffic into the UDP onion;
#   2. c2's friend request reaches c1 (over the relay and the onion) and,
#      once accepted, both report the friend connection as TCP;
#   3. messages both ways with read receipts;
#   4. a FILE_MB (default 10) MB file each way with matching SHA-256,
#      counted as relayed data by the relay;
#   5. stopping c1 is seen by c2 (the relay tells it the link went down).
#
# Usage (as root; re-execs itself under tests/interop/netns-run):
#   TOXWIRE=path/to/toxwire TOXCORE_PEER=path/to/toxcore_peer \
#       tests/interop/ctoxcore_clients_use_toxwire_tcp_relay.sh
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_init
tw_toxwire_bin

BASE=33460
TCP=$BASE # the same port number for UDP and TCP, as tox-bootstrapd nodes run
FILE_MB=${FILE_MB:-10}
CONNECT=60

tw_toxwire_start n1 $BASE --tcp-port $TCP
for i in 2 3 4; do
    tw_toxwire_start "n$i" $((BASE + i - 1)) --bootstrap "127.0.0.1:$BASE:${TW_KEY[n1]}"
done
check "n1 says it serves the TCP relay on port $TCP" \
    grep -q "TCP relay on port $TCP\$" "$(tw_log n1)"
boot() { echo "127.0.0.1:$((BASE + $1 - 1)):${TW_KEY[n$1]}"; }

mkdir -p "$TW_TMP/c1files" "$TW_TMP/c2files"
# Each client is given every UDP node: a c-toxcore client without UDP
# takes no node with a LAN address from an announce response that came
# over TCP (spec/tcp_relay.md), so on loopback it uses only the nodes it
# was given, where a real network's public addresses would do.
start_c() { # start_c NAME
    tw_peer_start "$1" --udp off --tcp-relay "127.0.0.1:$TCP:${TW_KEY[n1]}" \
        --bootstrap "$(boot 1)" --bootstrap "$(boot 2)" --bootstrap "$(boot 3)" \
        --bootstrap "$(boot 4)" --local-discovery off --ipv6 off \
        --accept-files "$TW_TMP/${1}files" --timeout 600
}
start_c c1
start_c c2
C1=$(tw_toxid_pk "${TW_TOXID[c1]}")
C2=$(tw_toxid_pk "${TW_TOXID[c2]}")
wait_new() { wait_for_line_from "$(tw_log "$1")" "$2" "$3" "$4"; }

tcheck "both clients are confirmed by the relay" tw_wait_until 20 tw_status_ge n1 tcp_confirmed 2
tcheck "c1 reports itself connected over TCP" wait_for_line "$(tw_log c1)" '^self_connection TCP$' 30
tcheck "c2 reports itself connected over TCP" wait_for_line "$(tw_log c2)" '^self_connection TCP$' 30
check "the relay passed onion requests from its clients into the UDP onion" \
    tw_status_ge n1 tcp_onion_requests 1
check "  ...and onion responses back to them" tw_status_ge n1 tcp_onion_responses 1

# ---- 2. friend request and connection over the relay
m1=$(tw_mark "$(tw_log c1)")
tw_peer_send c2 "add ${TW_TOXID[c1]} hello over TCP"
tcheck "c1 receives c2's friend request with its message" \
    wait_new c1 "$m1" "^friend_request $C2 hello over TCP\$" "$CONNECT"
tw_peer_send c1 "accept $C2"
tcheck "c1 reports the friend connection over TCP" \
    wait_new c1 "$m1" '^friend_connection 0 TCP$' "$CONNECT"
tcheck "c2 reports the friend connection over TCP" \
    wait_for_line "$(tw_log c2)" '^friend_connection 0 TCP$' 20
tcheck "the relay linked the pair (status file)" tw_wait_until 3 tw_status_ge n1 tcp_links_connected 1
check "no client ever reported a UDP friend connection" \
    bash -c "! grep -q 'friend_connection 0 UDP' '$(tw_log c1)' '$(tw_log c2)'"

# ---- 3. messages
tw_send_and_confirm c1 c2 normal "first message over the toxwire relay" "first message over the toxwire relay"
tw_send_and_confirm c2 c1 action "answers through the relay" "answers through the relay"

# ---- 4. files
head -c $((FILE_MB * 1000000)) /dev/urandom >"$TW_TMP/to_c2.bin"
head -c $((FILE_MB * 1000000)) /dev/urandom >"$TW_TMP/to_c1.bin"
sum() { sha256sum "$1" | cut -d' ' -f1 | tr a-f A-F; }
before=$(tw_status_value n1 tcp_data_bytes_relayed)
m2=$(tw_mark "$(tw_log c2)")
t0=$(date +%s.%N)
tw_peer_send c1 "sendfile 0 $TW_TMP/to_c2.bin"
tcheck "c2 receives c1's ${FILE_MB} MB file with the same SHA-256" \
    wait_new c2 "$m2" "^file_done 0 [0-9]+ $((FILE_MB * 1000000)) $(sum "$TW_TMP/to_c2.bin")\$" 300
tw_note "c1 -> c2: ${FILE_MB} MB in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
m1=$(tw_mark "$(tw_log c1)")
tw_peer_send c2 "sendfile 0 $TW_TMP/to_c1.bin"
tcheck "c1 receives c2's ${FILE_MB} MB file with the same SHA-256" \
    wait_new c1 "$m1" "^file_done 0 [0-9]+ $((FILE_MB * 1000000)) $(sum "$TW_TMP/to_c1.bin")\$" 300
sleep 1.5 # the status file is rewritten each second
after=$(tw_status_value n1 tcp_data_bytes_relayed)
tw_note "relayed data bytes: $before -> $after"
check "the relay carried both files (>= $((2 * FILE_MB)) MB of data packets)" \
    test "$((after - before))" -ge $((2 * FILE_MB * 1000000))

# ---- 5. a client leaves
m2=$(tw_mark "$(tw_log c2)")
tw_peer_send c1 quit
check "c1 exits on quit" tw_wait c1
tcheck "c2 sees c1 go offline" wait_new c2 "$m2" '^friend_connection 0 NONE$' 40
for i in 1 2 3 4; do
    tw_stop "n$i"; rc=$?
    check "n$i exits 0 on SIGTERM" test "$rc" -eq 0
done
check "n1's log has no error or sanitizer report" tw_log_clean n1
tw_summary
