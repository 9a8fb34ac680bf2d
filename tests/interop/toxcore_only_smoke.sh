#!/usr/bin/env bash
# toxcore_only_smoke.sh: control test for the interop harness itself (no
# toxwire involved). In a private network namespace: one tox-bootstrapd on
# port 33445 (IPv4, 0.0.0.0, LAN discovery off), six toxcore_peer instances
# bootstrapping only from it at 127.0.0.1, all getting online; two become
# friends and exchange messages with read receipts; a late joiner gets
# online too; savedata and clean exit of toxcore_peer are checked.
# If this fails, interop failures elsewhere say nothing about toxwire.
#
# Usage: tests/interop/toxcore_only_smoke.sh   (as root; re-execs itself
#        under tests/interop/netns-run). TOXCORE_PEER=path/to/toxcore_peer
#        to use a prebuilt binary. Exit 0 when every check passed.
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_need tox-bootstrapd
tw_init

NPEERS=6
PORT=33445
# Loopback only. On it c-toxcore says "self_connection TCP" although it
# runs on UDP; see TW_CONNECTED_RE in lib.sh for why TCP|UDP is "online".
PUB=127.0.0.1
phase_start=0
phase() { phase_start=$(tw_elapsed); tw_note "phase: $* (t=${phase_start}s)"; }
phase_done() { tw_note "phase took $(awk -v a="$phase_start" -v b="$(tw_elapsed)" 'BEGIN { printf "%.2f", b - a }')s"; }

phase "start tox-bootstrapd"
tw_bootstrapd_start bd "$PORT" "$PORT" "toxwire-smoke"
check "tox-bootstrapd up, key ${TW_KEY[bd]:0:8}..." test -n "${TW_KEY[bd]}"
check "tox-bootstrapd logged key matches keys file" \
    test "$(tw_key_from_keys_file "$TW_TMP/bd/keys")" = "${TW_KEY[bd]}"
phase_done

phase "start $NPEERS toxcore_peer instances"
BOOT="$PUB:$PORT:${TW_KEY[bd]}"
for i in $(seq 1 "$NPEERS"); do
    tw_peer_start "p$i" --bootstrap "$BOOT" --name "peer $i" --timeout 85
done
check "$NPEERS peers ready on distinct UDP ports" \
    test "$(for i in $(seq 1 "$NPEERS"); do echo "${TW_PORT[p$i]}"; done | sort -u | wc -l)" -eq "$NPEERS"
phase_done

phase "peers get online (self_connection TCP|UDP)"
# All peers bootstrap concurrently, so one shared deadline.
PEERS=()
for i in $(seq 1 "$NPEERS"); do PEERS+=("p$i"); done
tw_wait_connected $(($(date +%s) + 30)) "${PEERS[@]}"
phase_done

phase "friend request p1 -> p2"
P1_PK=$(tw_toxid_pk "${TW_TOXID[p1]}")
P2_PK=$(tw_toxid_pk "${TW_TOXID[p2]}")
tw_peer_send p1 "add ${TW_TOXID[p2]} hello from p1"
check "p1 friend_added 0 p2" wait_for_line "$(tw_log p1)" "^friend_added 0 $P2_PK\$" 5
check "p2 got friend_request from p1 with message" \
    wait_for_line "$(tw_log p2)" "^friend_request $P1_PK hello from p1\$" 30
tw_peer_send p2 "accept $P1_PK"
check "p2 friend_added 0 p1" wait_for_line "$(tw_log p2)" "^friend_added 0 $P1_PK\$" 5
phase_done

phase "friend connection"
check "p1 sees friend 0 connected over UDP" wait_for_line "$(tw_log p1)" '^friend_connection 0 UDP$' 30
check "p2 sees friend 0 connected over UDP" wait_for_line "$(tw_log p2)" '^friend_connection 0 UDP$' 30
check "p1 learns p2's name" wait_for_line "$(tw_log p1)" '^friend_name 0 peer 2$' 10
check "p2 learns p1's name" wait_for_line "$(tw_log p2)" '^friend_name 0 peer 1$' 10
phase_done

phase "messages both ways"
tw_send_and_confirm p1 p2 normal "ping from p1 ☃" "ping from p1 ☃"
tw_send_and_confirm p2 p1 normal "pong from p2" "pong from p2"
tw_send_and_confirm p2 p1 action 'waves \\ two\nlines' 'waves \\ two\nlines'
phase_done

# A peer joining a network that is already up.
phase "late joiner"
tw_peer_start lo1 --bootstrap "$BOOT" --timeout 40
tw_wait_connected $(($(date +%s) + 20)) lo1
phase_done

phase "savedata round trip and clean exit"
tw_peer_start s1 --bootstrap "$BOOT" --savedata "$TW_TMP/s1.tox" --timeout 20
tw_peer_send s1 save
check "s1 saved" wait_for_line "$(tw_log s1)" "^saved $TW_TMP/s1.tox\$" 5
tw_peer_send s1 quit
check "s1 exits on quit" wait_for_line "$(tw_log s1)" '^exit quit$' 5
tw_wait s1; rc=$?
check "s1 exit status 0" test "$rc" -eq 0
tw_peer_start s2 --bootstrap "$BOOT" --savedata "$TW_TMP/s1.tox" --timeout 20
check "same Tox ID after reload" test "${TW_TOXID[s2]}" = "${TW_TOXID[s1]}"
tw_stop p3; rc=$?
check "p3 exits 0 on SIGTERM" test "$rc" -eq 0
check "p3 logged exit signal" wait_for_line "$(tw_log p3)" '^exit signal$' 1
phase_done

tw_summary
