#!/usr/bin/env bash
# ctoxcore_peers_use_toxwire.sh: c-toxcore peers use a toxwire bootstrap
# node as their only way into the network.
#
# In a private network namespace (loopback only): one `toxwire bootstrap`
# on 127.0.0.1:33445, six toxcore_peer instances bootstrapping ONLY from it
# (LAN discovery off, IPv6 off, no TCP relays). Checks that
#   - every peer gets online (self_connection TCP|UDP, see lib.sh),
#   - toxwire's close list (status file) holds all six peers' DHT keys as
#     good nodes, and it answered Nodes requests,
#   - two peers find each other through that network: friend request,
#     friend connection over UDP, a message each way with read receipts.
# The peers' onion paths go through toxwire and through each other
# (ctoxcore_clients_use_toxwire_onion.sh tests toxwire as the only onion).
#
# Usage (as root; re-execs itself under tests/interop/netns-run):
#   TOXWIRE=path/to/toxwire TOXCORE_PEER=path/to/toxcore_peer \
#       tests/interop/ctoxcore_peers_use_toxwire.sh
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_init
tw_toxwire_bin

NPEERS=6
PORT=33445

tw_note "start toxwire bootstrap (t=$(tw_elapsed)s)"
tw_toxwire_start tw "$PORT"
check "toxwire up on UDP $PORT" test "${TW_PORT[tw]}" = "$PORT"
check "toxwire's logged key is the one in its keys file" \
    test "$("$TW_TOXWIRE_BIN" id --keys "$TW_TMP/tw/keys" 2>/dev/null)" = "${TW_KEY[tw]}"

tw_note "start $NPEERS toxcore_peer instances (t=$(tw_elapsed)s)"
BOOT="127.0.0.1:$PORT:${TW_KEY[tw]}"
PEERS=()
for i in $(seq 1 "$NPEERS"); do
    tw_peer_start "p$i" --bootstrap "$BOOT" --local-discovery off --ipv6 off \
        --name "peer $i" --timeout 90
    PEERS+=("p$i")
done
PEER_KEYS=()
for p in "${PEERS[@]}"; do PEER_KEYS+=("${TW_KEY[$p]}"); done
check "$NPEERS peers ready with distinct DHT keys" \
    test "$(printf '%s\n' "${PEER_KEYS[@]}" | sort -u | wc -l)" -eq "$NPEERS"

tw_note "wait for peers to get online (t=$(tw_elapsed)s)"
tw_wait_connected $(($(date +%s) + 30)) "${PEERS[@]}"
tw_note "all online at t=$(tw_elapsed)s"

# The peers ping toxwire and each other; toxwire learns them from their
# requests and keeps them once they answer its own pings/requests.
if tw_wait_until 15 tw_status_has_nodes tw "${PEER_KEYS[@]}"; then
    pass "toxwire's close list has all $NPEERS peers' DHT keys as good nodes"
else
    tw_status_dump tw
    fail "toxwire's close list has all $NPEERS peers' DHT keys as good nodes" \
        "only $(tw_status_count_nodes tw "${PEER_KEYS[@]}") of $NPEERS listed"
fi
check "toxwire status: at least $NPEERS node lines" \
    test "$(grep -c '^node ' "$(tw_status tw)")" -ge "$NPEERS"
check "toxwire status: close_good_nodes >= $NPEERS" tw_status_ge tw close_good_nodes "$NPEERS"
check "toxwire status: nodes_requests_in > 0 ($(tw_status_value tw nodes_requests_in))" \
    tw_status_ge tw nodes_requests_in 1
# Every listed node must carry the loopback address and a peer's port.
bad=$(awk '$1 == "node" && $3 !~ /^127\.0\.0\.1:[0-9]+$/' "$(tw_status tw)")
check "toxwire status: node addresses are 127.0.0.1:PORT" test -z "$bad"
wrong=""
for p in "${PEERS[@]}"; do
    grep -q "^node ${TW_KEY[$p]} 127\.0\.0\.1:${TW_PORT[$p]}\$" "$(tw_status tw)" ||
        wrong+=" $p (wants port ${TW_PORT[$p]}: $(grep "${TW_KEY[$p]}" "$(tw_status tw)"))"
done
check "toxwire lists each peer at its own 127.0.0.1 port${wrong:+ -- wrong:$wrong}" test -z "$wrong"

tw_note "friends p1 <-> p2 (t=$(tw_elapsed)s)"
# Before toxwire relayed onion packets this took up to 33 s (paths through
# toxwire failed and were retried after timeouts); now a few seconds, as
# with tox-bootstrapd. The budget covers request and connection together.
tw_befriend p1 p2 30

tw_note "messages both ways (t=$(tw_elapsed)s)"
tw_send_and_confirm p1 p2 normal "hello p2, via toxwire's DHT" "hello p2, via toxwire's DHT"
tw_send_and_confirm p2 p1 normal "hello back ☃" "hello back ☃"

check "toxwire still running" tw_alive tw
tw_stop tw; rc=$?
check "toxwire exits 0 on SIGTERM" test "$rc" -eq 0
check "toxwire logs its stop" wait_for_line "$(tw_log tw)" 'stopping on signal' 1
check "toxwire log has no error or sanitizer report" tw_log_clean tw

tw_summary
