#!/usr/bin/env bash
# toxwire_node_and_ctoxcore_befriend.sh: a `toxwire node` and c-toxcore
# clients become friends and use every part of the friend layer, both ways.
#
# In a private network namespace (loopback only): 6 `toxwire bootstrap`
# nodes (DHT, onion relays, announce nodes), toxwire node w1, c-toxcore
# clients c1 and c2 (toxcore_peer). Checks:
#   1. w1 sends a friend request, c1 receives it with its message and
#      accepts; the session comes up (c1 reports UDP, w1 'online'), and w1's
#      state events go forward only, ending in Established;
#   2. c2 sends a friend request, w1 receives and accepts; online;
#   3. messages both ways (normal and action) with read receipts;
#   4. names, status messages, user status and typing seen by the other;
#   5. custom lossless and lossy packets both ways, bytes intact;
#   6. a file each way (FILE_MB, default 50) with matching SHA-256; a
#      transfer paused and resumed by toxwire arrives intact, one cancelled
#      by the toxwire receiver is seen cancelled by c-toxcore, an avatar
#      (kind 1) arrives intact;
#   7. w1 restarts from its profile and both c-toxcore friends reconnect;
#      c1 restarts from its savedata and reconnects to w1;
#   8. c1's savedata imported into a new toxwire profile (w3): w3 has c1's
#      Tox ID, and c1's c-toxcore friend c2 connects to w3 and exchanges
#      messages with it.
#
# Usage (as root; re-execs itself under tests/interop/netns-run):
#   TOXWIRE=path/to/toxwire TOXCORE_PEER=path/to/toxcore_peer \
#       tests/interop/toxwire_node_and_ctoxcore_befriend.sh
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_init
tw_toxwire_bin

BASE=33445
FILE_MB=${FILE_MB:-50}
CONNECT=45 # seconds allowed for a friend connection (c-toxcore takes ~10)

tw_toxwire_start n1 $BASE
for i in 2 3 4 5 6; do
    tw_toxwire_start "n$i" $((BASE + i - 1)) --bootstrap "127.0.0.1:$BASE:${TW_KEY[n1]}"
done
boot() { echo "127.0.0.1:$((BASE + $1 - 1)):${TW_KEY[n$1]}"; }

mkdir -p "$TW_TMP/w1files" "$TW_TMP/c1files" "$TW_TMP/c2files" "$TW_TMP/w3files"
start_w1() {
    tw_node_start w1 --profile "$TW_TMP/w1.profile" --bootstrap "$(boot 2)" --ipv4-only \
        --accept-files "$TW_TMP/w1files" --hash-files --log-level info
}
start_c() { # start_c NAME BOOTNODE
    tw_peer_start "$1" --bootstrap "$(boot "$2")" --local-discovery off --ipv6 off \
        --savedata "$TW_TMP/$1.save" --accept-files "$TW_TMP/${1}files" --timeout 600
}
start_w1
start_c c1 3
start_c c2 4
W1=$(tw_toxid_pk "${TW_TOXID[w1]}")
C1=$(tw_toxid_pk "${TW_TOXID[c1]}")
C2=$(tw_toxid_pk "${TW_TOXID[c2]}")
tw_note "w1 $W1, c1 $C1, c2 $C2"

# wait_new NAME MARK REGEX TIMEOUT: a line matching REGEX after MARK lines.
wait_new() { wait_for_line_from "$(tw_log "$1")" "$2" "$3" "$4"; }

# ---- 1. toxwire -> c-toxcore friend request
m=$(tw_mark "$(tw_log c1)")
tw_peer_send w1 "add ${TW_TOXID[c1]} hello from toxwire"
tcheck "c1 receives w1's friend request with its message" \
    wait_new c1 "$m" "^friend_request $W1 hello from toxwire\$" "$CONNECT"
tw_peer_send c1 "accept $W1"
tcheck "w1 and c1 connect: c1 reports the friend connection over UDP" \
    wait_new c1 "$m" "^friend_connection 0 UDP\$" "$CONNECT"
tcheck "w1 reports c1 online" wait_for_line "$(tw_log w1)" "^online 0\$" 10
# The states w1 went through for c1, in order, each forward of the last.
states=$(awk '$1 == "state" && $2 == "0" { print $3 }' "$(tw_log w1)" | tr '\n' ' ')
tw_note "w1's states for c1: $states"
check "w1's state events for c1 go forward only and end in Established" \
    awk -v s="$states" 'BEGIN {
        split("AwaitingDHTKey AcquiringIPAddress AcquiringCookie AwaitingHandshake AwaitingSessionPacket Established", o, " ")
        for (i in o) rank[o[i]] = i
        n = split(s, a, " "); last = 0
        for (i = 1; i <= n; i++) { if (!(a[i] in rank) || rank[a[i]] <= last) exit 1; last = rank[a[i]] }
        exit !(a[n] == "Established" && n >= 2) }'

# ---- 2. c-toxcore -> toxwire friend request
m=$(tw_mark "$(tw_log w1)")
tw_peer_send c2 "add ${TW_TOXID[w1]} hello from c-toxcore"
tcheck "w1 receives c2's friend request with its message" \
    wait_new w1 "$m" "^friend_request $C2 hello from c-toxcore\$" "$CONNECT"
tw_peer_send w1 "accept $C2"
tcheck "w1 and c2 connect (w1: online 1)" wait_new w1 "$m" "^online 1\$" "$CONNECT"
tcheck "c2 reports w1 over UDP" wait_for_line "$(tw_log c2)" "^friend_connection 0 UDP\$" 10

# ---- 3. messages and receipts
m=$(tw_mark "$(tw_log c1)"); mw=$(tw_mark "$(tw_log w1)")
tw_peer_send w1 "msg 0 first message from toxwire"
tw_peer_send w1 "action 0 waves"
tcheck "c1 receives w1's message" wait_new c1 "$m" "^friend_message 0 normal first message from toxwire\$" 10
tcheck "c1 receives w1's action" wait_new c1 "$m" "^friend_message 0 action waves\$" 10
tcheck "w1 gets read receipts for both" wait_new w1 "$mw" "^receipt 0 2\$" 10
tw_peer_send c1 "msg 0 reply from c-toxcore"
tcheck "w1 receives c1's message" wait_new w1 "$mw" "^message 0 normal reply from c-toxcore\$" 10
tcheck "c1 gets a read receipt" wait_new c1 "$m" "^read_receipt 0 [0-9]+\$" 10

# ---- 4. name, status message, user status, typing
tw_peer_send w1 "name toxwire-one"
tw_peer_send w1 "status testing the friend layer"
tw_peer_send w1 "userstatus away"
tw_peer_send w1 "typing 0 on"
tcheck "c1 sees w1's name" wait_new c1 "$m" "^friend_name 0 toxwire-one\$" 10
tcheck "c1 sees w1's status message" wait_new c1 "$m" "^friend_status_message 0 testing the friend layer\$" 10
tcheck "c1 sees w1's user status" wait_new c1 "$m" "^friend_status 0 away\$" 10
tcheck "c1 sees w1 typing" wait_new c1 "$m" "^friend_typing 0 on\$" 10
tw_peer_send c1 "name ctoxcore-one"
tw_peer_send c1 "status busy testing"
tw_peer_send c1 "userstatus 2"
tw_peer_send c1 "typing 0 on"
tcheck "w1 sees c1's name" wait_new w1 "$mw" "^name 0 ctoxcore-one\$" 10
tcheck "w1 sees c1's status message" wait_new w1 "$mw" "^status 0 busy testing\$" 10
tcheck "w1 sees c1's user status" wait_new w1 "$mw" "^userstatus 0 busy\$" 10
tcheck "w1 sees c1 typing" wait_new w1 "$mw" "^typing 0 on\$" 10

# ---- 5. custom packets
tw_peer_send w1 "lossless 0 A00102030405FF"
tw_peer_send w1 "lossy 0 C8DEADBEEF"
tcheck "c1 receives w1's custom lossless packet intact" wait_new c1 "$m" "^custom_lossless 0 A00102030405FF\$" 10
tcheck "c1 receives w1's custom lossy packet intact" wait_new c1 "$m" "^custom_lossy 0 C8DEADBEEF\$" 10
tw_peer_send c1 "lossless 0 A1CAFE"
tw_peer_send c1 "lossy 0 C9BEEF"
tcheck "w1 receives c1's custom lossless packet intact" wait_new w1 "$mw" "^custom_lossless 0 A1CAFE\$" 10
tcheck "w1 receives c1's custom lossy packet intact" wait_new w1 "$mw" "^custom_lossy 0 C9BEEF\$" 10

# ---- 6. files, both ways
head -c $((FILE_MB * 1000000)) /dev/urandom >"$TW_TMP/to_c1.bin"
head -c $((FILE_MB * 1000000)) /dev/urandom >"$TW_TMP/to_w1.bin"
sum_to_c1=$(sha256sum "$TW_TMP/to_c1.bin" | cut -d' ' -f1 | tr a-f A-F)
sum_to_w1=$(sha256sum "$TW_TMP/to_w1.bin" | cut -d' ' -f1 | tr a-f A-F)
tw_peer_send w1 "sendfile 0 $TW_TMP/to_c1.bin"
tcheck "c1 receives w1's ${FILE_MB} MB file with the same SHA-256" \
    wait_new c1 "$m" "^file_done 0 [0-9]+ $((FILE_MB * 1000000)) $sum_to_c1\$" 120
tcheck "w1 sees its file confirmed" wait_new w1 "$mw" "^file_done 0 out [0-9]+ $((FILE_MB * 1000000)) -\$" 30
tw_peer_send c1 "sendfile 0 $TW_TMP/to_w1.bin"
tcheck "w1 receives c1's ${FILE_MB} MB file with the same SHA-256" \
    wait_new w1 "$mw" "^file_done 0 in [0-9]+ $((FILE_MB * 1000000)) $sum_to_w1\$" 120
check "the file w1 wrote has the same SHA-256" \
    bash -c "[ \"\$(sha256sum '$TW_TMP/w1files/to_w1.bin' | cut -d' ' -f1 | tr a-f A-F)\" = '$sum_to_w1' ]"

# ---- 6b. pause, resume and cancel across the two implementations
m=$(tw_mark "$(tw_log c1)"); mw=$(tw_mark "$(tw_log w1)")
tw_peer_send w1 "sendfile 0 $TW_TMP/to_c1.bin"
line=$(wait_new w1 "$mw" "^file_send 0 [0-9]+ $((FILE_MB * 1000000)) to_c1.bin\$" 10) ||
    fail "w1 offers the file again"
out_n=$(awk '{print $3}' <<<"$(tail -n1 <<<"$line")")
wait_new w1 "$mw" "^file_control 0 out $out_n accept\$" 20 >/dev/null || fail "c1 accepts w1's file"
tw_peer_send w1 "file 0 out $out_n pause"
tcheck "c1 sees w1 pause its transfer" wait_new c1 "$m" "^file_recv_control 0 [0-9]+ pause\$" 20
m=$(tw_mark "$(tw_log c1)")
tw_peer_send w1 "file 0 out $out_n resume"
tcheck "c1 sees w1 resume it" wait_new c1 "$m" "^file_recv_control 0 [0-9]+ resume\$" 20
tcheck "  ...and the paused-and-resumed file arrives with the same SHA-256" \
    wait_new c1 "$m" "^file_done 0 [0-9]+ $((FILE_MB * 1000000)) $sum_to_c1\$" 120
mw=$(tw_mark "$(tw_log w1)")
tw_peer_send c1 "sendfile 0 $TW_TMP/to_w1.bin"
line=$(wait_new w1 "$mw" "^file_recv 0 [0-9]+ $((FILE_MB * 1000000)) to_w1.bin\$" 20) ||
    fail "w1 is offered c1's file again"
in_n=$(awk '{print $3}' <<<"$(tail -n1 <<<"$line")")
m=$(tw_mark "$(tw_log c1)")
tw_peer_send w1 "file 0 in $in_n cancel"
tcheck "c1 sees w1 cancel the incoming transfer" wait_new c1 "$m" "^file_recv_control 0 [0-9]+ cancel\$" 20
check "  ...w1 reports nothing received for it" \
    bash -c "! tail -n +$((mw + 1)) '$(tw_log w1)' | grep -q '^file_done 0 in $in_n '"
m=$(tw_mark "$(tw_log c1)"); mw=$(tw_mark "$(tw_log w1)")
head -c 3000 /dev/urandom >"$TW_TMP/avatar.png"
tw_peer_send w1 "sendavatar 0 $TW_TMP/avatar.png"
tcheck "c1 receives w1's avatar (file kind 1) intact" \
    wait_new c1 "$m" "^file_done 0 [0-9]+ 3000 $(sha256sum "$TW_TMP/avatar.png" | cut -d' ' -f1 | tr a-f A-F)\$" 20

# ---- 7. restarts
tw_peer_send w1 quit
check "w1 exits on quit" tw_wait w1
tw_forget w1
m1=$(tw_mark "$(tw_log c1)"); m2=$(tw_mark "$(tw_log c2)")
mv "$(tw_log w1)" "$TW_TMP/w1.first.log"
start_w1
check "w1 keeps its Tox ID across a restart" test "$(tw_toxid_pk "${TW_TOXID[w1]}")" = "$W1"
tcheck "w1 restarted from its profile: c1 reconnects" wait_new c1 "$m1" "^friend_connection 0 UDP\$" "$CONNECT"
tcheck "w1 restarted from its profile: c2 reconnects" wait_new c2 "$m2" "^friend_connection 0 UDP\$" "$CONNECT"
tcheck "w1 sees both online again" wait_for_line "$(tw_log w1)" "^online 1\$" 10
mw=$(tw_mark "$(tw_log w1)")
tw_peer_send c1 "save"
wait_new c1 "$m1" "^saved " 10 >/dev/null
tw_peer_send c1 quit
check "c1 exits on quit" tw_wait c1
tw_forget c1
tcheck "w1 sees c1 go offline" wait_new w1 "$mw" "^offline 0\$" 40
mv "$(tw_log c1)" "$TW_TMP/c1.first.log"
start_c c1 5
check "c1 keeps its Tox ID across a restart" test "$(tw_toxid_pk "${TW_TOXID[c1]}")" = "$C1"
tcheck "c1 restarted from its savedata: w1 sees it online" wait_new w1 "$mw" "^online 0\$" "$CONNECT"
tw_peer_send w1 "msg 0 welcome back"
tcheck "c1 receives a message after the restart" wait_for_line "$(tw_log c1)" "^friend_message 0 normal welcome back\$" 10

# ---- 8. a c-toxcore savefile imported into toxwire
m2=$(tw_mark "$(tw_log c2)")
tw_peer_send c1 "add ${TW_TOXID[c2]} c1 to c2"
tcheck "c2 receives c1's request" wait_new c2 "$m2" "^friend_request $C1 c1 to c2\$" "$CONNECT"
tw_peer_send c2 "accept $C1"
tcheck "c1 and c2 connect" wait_new c2 "$m2" "^friend_connection 1 UDP\$" "$CONNECT"
tw_peer_send c1 "save"
wait_for_line "$(tw_log c1)" "^saved " 10 >/dev/null
tw_peer_send c1 quit
check "c1 exits on quit" tw_wait c1
tw_forget c1
tcheck "c2 sees c1 go offline" wait_new c2 "$m2" "^friend_connection 1 NONE\$" 40
m2=$(tw_mark "$(tw_log c2)")
tw_node_start w3 --profile "$TW_TMP/w3.profile" --import "$TW_TMP/c1.save" --bootstrap "$(boot 6)" \
    --ipv4-only --accept-files "$TW_TMP/w3files"
check "w3 has c1's Tox ID (imported from its savedata)" test "${TW_TOXID[w3]}" = "${TW_TOXID[c1]}"
tw_peer_send w3 friends
check "w3 lists c1's friends (w1 and c2)" wait_for_line "$(tw_log w3)" "^ok friends 2\$" 5
tcheck "c2 connects to its friend, now toxwire with c1's keys" \
    wait_new c2 "$m2" "^friend_connection 1 UDP\$" "$CONNECT"
tw_peer_send c2 "msg 1 hello imported friend"
tcheck "w3 receives c2's message" wait_for_line "$(tw_log w3)" "^message 1 normal hello imported friend\$" 10
check "the c-toxcore savefile was not changed" test -s "$TW_TMP/c1.save"

for n in w1 w3; do tw_peer_send "$n" quit; tw_wait "$n"; done
tw_summary
