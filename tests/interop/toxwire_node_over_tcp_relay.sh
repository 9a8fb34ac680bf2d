#!/usr/bin/env bash
# toxwire_node_over_tcp_relay.sh: a toxwire node without UDP reaches
# c-toxcore friends through tox-bootstrapd's TCP relay.
#
# In a private network namespace (loopback only): tox-bootstrapd b1 (DHT,
# onion, TCP relay on its UDP port number) and b2..b4 (DHT, onion); toxwire
# node w1 with --udp off and b1 as its only relay; c-toxcore client c1 with
# UDP, and c2 with UDP off and b1 as its relay. Checks:
#   1. w1 has no UDP socket, connects to the relay, and its onion works
#      through it: it gets announced (c1's friend request reaches it);
#   2. c1 -> w1: the friend request arrives, w1 accepts, both report the
#      connection (c1: TCP, w1: online, transport tcp): c1 found w1's relay
#      in w1's DHT public key announcement;
#   3. w1 -> c2 (both TCP-only on the same relay): the request arrives, c2
#      accepts, both report the connection;
#   4. messages both ways with read receipts, with each friend;
#   5. w1 quits: both see it go offline;
#   6. toxwire node w2 has UDP, but nothing can reach its address yet (an
#      ip rule in the namespace prohibits 127.0.0.5): c-toxcore c3 (UDP)
#      befriends it through the relay (both report TCP) and they exchange
#      messages; the rule is lifted, and the same session moves to UDP (w2:
#      transport 0 udp; c3: friend_connection 0 UDP) with no new handshake,
#      and messages still pass.
#
# Usage (as root; re-execs itself under tests/interop/netns-run):
#   TOXWIRE=path/to/toxwire TOXCORE_PEER=path/to/toxcore_peer \
#       tests/interop/toxwire_node_over_tcp_relay.sh
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_init
tw_toxwire_bin
tw_need tox-bootstrapd

BASE=33470
CONNECT=60

tw_bootstrapd_start b1 $BASE $BASE
for i in 2 3 4; do
    tw_bootstrapd_start "b$i" $((BASE + i - 1)) "" toxwire-interop "127.0.0.1:$BASE:${TW_KEY[b1]}"
done
boot() { echo "127.0.0.1:$((BASE + $1 - 1)):${TW_KEY[b$1]}"; }
RELAY="127.0.0.1:$BASE:${TW_KEY[b1]}"

# w1 is given every bootstrap node: without UDP they are its onion path
# nodes (the relay is the first hop, two of these the next).
tw_node_start w1 --profile "$TW_TMP/w1.profile" --udp off --tcp-relay "$RELAY" \
    --bootstrap "$(boot 1)" --bootstrap "$(boot 2)" --bootstrap "$(boot 3)" --bootstrap "$(boot 4)" \
    --ipv4-only --log-level info
tw_peer_start c1 --bootstrap "$(boot 2)" --local-discovery off --ipv6 off --timeout 600
# c2 as the c-toxcore TCP relay test runs its clients (see
# ctoxcore_clients_use_toxwire_tcp_relay.sh for why every node is given).
tw_peer_start c2 --udp off --tcp-relay "$RELAY" --bootstrap "$(boot 1)" --bootstrap "$(boot 2)" \
    --bootstrap "$(boot 3)" --bootstrap "$(boot 4)" --local-discovery off --ipv6 off --timeout 600
W1=$(tw_toxid_pk "${TW_TOXID[w1]}")
C1=$(tw_toxid_pk "${TW_TOXID[c1]}")
C2=$(tw_toxid_pk "${TW_TOXID[c2]}")
tw_note "w1 $W1, c1 $C1, c2 $C2"
wait_new() { wait_for_line_from "$(tw_log "$1")" "$2" "$3" "$4"; }

# ---- 1. no UDP, the relay, the onion through it
check "w1 reports no UDP port (ready ... 0)" grep -Eq '^ready [0-9A-F]{76} [0-9A-F]{64} 0$' "$(tw_log w1)"
check "w1 holds no UDP socket" bash -c "! ss -uanp | grep -q 'pid=${TW_PID[w1]},'"
tcheck "w1 connects to tox-bootstrapd's TCP relay" \
    wait_for_line "$(tw_log w1)" "connected to relay 127.0.0.1:$BASE\$" 20
check "w1 holds a TCP connection to port $BASE" \
    bash -c "ss -tanp | grep 'pid=${TW_PID[w1]},' | grep -q ':$BASE '"

# ---- 2. c1 (UDP) -> w1 (TCP only)
m=$(tw_mark "$(tw_log w1)")
tw_peer_send c1 "add ${TW_TOXID[w1]} hello toxwire over TCP"
tcheck "w1 receives c1's friend request (w1 is announced through the relay)" \
    wait_new w1 "$m" "^friend_request $C1 hello toxwire over TCP\$" "$CONNECT"
mc=$(tw_mark "$(tw_log c1)")
tw_peer_send w1 "accept $C1"
tcheck "w1 reports c1 online" wait_new w1 "$m" '^online 0$' "$CONNECT"
tcheck "  ...through the relay (transport 0 tcp)" wait_new w1 "$m" '^transport 0 tcp$' 5
tcheck "c1 reports the friend connection over TCP" wait_new c1 "$mc" '^friend_connection 0 TCP$' 20
check "c1 never reports it over UDP" bash -c "! grep -q '^friend_connection 0 UDP' '$(tw_log c1)'"

# ---- 3. w1 -> c2, both TCP only, on the same relay
m=$(tw_mark "$(tw_log c2)")
tw_peer_send w1 "add ${TW_TOXID[c2]} hello from a relay neighbour"
tcheck "c2 receives w1's friend request (w1's onion data goes through the relay)" \
    wait_new c2 "$m" "^friend_request $W1 hello from a relay neighbour\$" "$CONNECT"
mw=$(tw_mark "$(tw_log w1)")
tw_peer_send c2 "accept $W1"
tcheck "c2 reports the friend connection over TCP" wait_new c2 "$m" '^friend_connection 0 TCP$' "$CONNECT"
tcheck "w1 reports c2 online through the relay" wait_new w1 "$mw" '^transport 1 tcp$' "$CONNECT"

# ---- 4. messages
for p in "c1 0" "c2 1"; do
    set -- $p
    mp=$(tw_mark "$(tw_log "$1")"); mw=$(tw_mark "$(tw_log w1)")
    tw_peer_send w1 "msg $2 to $1 through the relay"
    tcheck "$1 receives w1's message" wait_new "$1" "$mp" "^friend_message 0 normal to $1 through the relay\$" 20
    tcheck "w1 gets $1's read receipt" wait_new w1 "$mw" "^receipt $2 [0-9]+\$" 20
    tw_peer_send "$1" "msg 0 from $1 to a node without UDP"
    tcheck "w1 receives $1's message" wait_new w1 "$mw" "^message $2 normal from $1 to a node without UDP\$" 20
    tcheck "$1 gets w1's read receipt" wait_new "$1" "$mp" '^read_receipt 0 [0-9]+$' 20
done

# ---- 5. w1 leaves
m1=$(tw_mark "$(tw_log c1)"); m2=$(tw_mark "$(tw_log c2)")
tw_peer_send w1 quit
check "w1 exits on quit" tw_wait w1
tcheck "c1 sees w1 go offline" wait_new c1 "$m1" '^friend_connection 0 NONE$' 40
tcheck "c2 sees w1 go offline" wait_new c2 "$m2" '^friend_connection 0 NONE$' 40
check "w1's log has no error or sanitizer report" tw_log_clean w1

# ---- 6. TCP first, then UDP when a direct path appears
# Local routes are looked up after our rule, so the rule can shut one
# loopback address off while sockets may still bind to it.
ip rule add pref 100 lookup local && ip rule del pref 0 &&
    ip rule add pref 10 to 127.0.0.5 prohibit || tw_die "cannot add the ip rule"
tw_node_start w2 --profile "$TW_TMP/w2.profile" --bind 127.0.0.5 --ipv4-only --tcp-relay "$RELAY" \
    --bootstrap "$(boot 1)" --bootstrap "$(boot 2)" --bootstrap "$(boot 3)" --bootstrap "$(boot 4)" \
    --log-level info
tw_peer_start c3 --bootstrap "$(boot 3)" --local-discovery off --ipv6 off --timeout 600
W2=$(tw_toxid_pk "${TW_TOXID[w2]}")
C3=$(tw_toxid_pk "${TW_TOXID[c3]}")
m=$(tw_mark "$(tw_log w2)")
tw_peer_send c3 "add ${TW_TOXID[w2]} hello unreachable"
tcheck "w2 (UDP unreachable) receives c3's friend request" \
    wait_new w2 "$m" "^friend_request $C3 hello unreachable\$" "$CONNECT"
mc=$(tw_mark "$(tw_log c3)")
tw_peer_send w2 "accept $C3"
tcheck "w2 reports c3 online through the relay" wait_new w2 "$m" '^transport 0 tcp$' "$CONNECT"
tcheck "c3 reports the friend connection over TCP" wait_new c3 "$mc" '^friend_connection 0 TCP$' 20
mw=$(tw_mark "$(tw_log w2)")
tw_peer_send c3 "msg 0 while on the relay"
tcheck "w2 receives c3's message over the relay" wait_new w2 "$mw" '^message 0 normal while on the relay$' 20
hs=$(grep -c 'AwaitingSessionPacket' "$(tw_log w2)")
ip rule del pref 10 || tw_die "cannot remove the ip rule"
tw_note "127.0.0.5 reachable from $(tw_elapsed) s"
tcheck "w2's session with c3 moves to UDP (transport 0 udp)" wait_new w2 "$mw" '^transport 0 udp$' 90
tcheck "c3 reports the friend connection over UDP" wait_new c3 "$mc" '^friend_connection 0 UDP$' 30
check "  ...the same session: no new handshake on w2's side" \
    test "$(grep -c 'AwaitingSessionPacket' "$(tw_log w2)")" -eq "$hs"
check "  ...and w2 never went offline" bash -c "! tail -n +$((mw + 1)) '$(tw_log w2)' | grep -q '^offline 0$'"
# tcp_data_out: data packets w2 has sent through relays so far.
tcp_data_out() {
    local m
    m=$(tw_mark "$(tw_log w2)")
    tw_peer_send w2 stats
    wait_new w2 "$m" '^stats tcp ' 5 | sed -E 's/.* data_out ([0-9]+) .*/\1/'
}
before=$(tcp_data_out)
mw=$(tw_mark "$(tw_log w2)"); mc=$(tw_mark "$(tw_log c3)")
for i in $(seq 1 20); do tw_peer_send w2 "msg 0 now direct $i"; done
tcheck "c3 receives w2's 20 messages" wait_new c3 "$mc" '^friend_message 0 normal now direct 20$' 20
tcheck "w2 gets c3's read receipts" wait_new w2 "$mw" '^receipt 0 [0-9]+$' 20
after=$(tcp_data_out)
tw_note "w2's data packets through relays: $before before the 20 messages, $after after"
check "  ...and they went by UDP: at most 2 data packets through the relay meanwhile" \
    test "$((after - before))" -le 2
tw_peer_send w2 quit
check "w2 exits on quit" tw_wait w2
check "w2's log has no error or sanitizer report" tw_log_clean w2
tw_summary
