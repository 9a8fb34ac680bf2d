#!/usr/bin/env bash
# ctoxcore_onion_behaviour.sh: pin down, on the wire, how c-toxcore's
# tox-bootstrapd (0.2.18) behaves as an onion relay (nodes A, B, C) and as
# an announce node (node D). The packets are made by onion_probe.c (libsodium
# + UDP only); every probe subcommand prints key=value lines, `check.X=ok`
# or `check.X=FAIL ...` for each expectation, and exits non-zero on any
# FAIL. Notes on what is checked: the comment at the top of onion_probe.c
# and the observation notes kept with the toxwire docs.
#
# In a private network namespace (loopback only):
#   bd   tox-bootstrapd on UDP 33600, IPv6 enabled (dual stack), no relay
#   bd2  tox-bootstrapd on UDP 33601 (IPv4), bootstraps from bd, so that bd
#        has exactly one DHT node to put in announce responses
#   ft   tox-bootstrapd on UDP 33602 run under libfaketime at 1000x speed (only
#        if faketime is installed), for the return-path key lifetime
# Checks (experiment numbers as in the probe):
#   1 announce 0x83 -> 0x8c [177 blob] 0x84 ..., sizes with 0 and 1 nodes,
#     ping id flow (is_stored 0 -> 2; searcher gets 1 + data key), ping id
#     bound to source address and key but not to the return blob, exact
#     177-byte blob required
#   2 data to route 0x85 -> 0x8c [announcer's blob] 0x86 ..., size limits
#   3 the 0x87/0x88 announce form (not in the spec)
#   4 relaying 0x80/0x81/0x82 and 0x8c/0x8d/0x8e over IPv4 and IPv6, a
#     full three-hop announce round trip through the node
#   5 the return-path key is replaced every 7200 s of the node's clock and
#     blobs made under the previous key stop working at once
#
# Environment: ONION_PROBE=path to a built onion_probe (else it is compiled
# into the temp dir with cc -lsodium; the test is skipped if that fails).
#
# Usage (as root; re-execs itself under tests/interop/netns-run):
#   tests/interop/ctoxcore_onion_behaviour.sh
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_need tox-bootstrapd
tw_init

if [ -n "${ONION_PROBE:-}" ]; then
    PROBE=$ONION_PROBE
else
    PROBE=$TW_TMP/onion_probe
    if ! "${CC:-cc}" -O1 -g -Wall -o "$PROBE" "$TW_LIB_DIR/onion_probe.c" -lsodium 2>"$TW_TMP/cc.log"; then
        echo "1..0 # SKIP cannot build onion_probe (libsodium?): $(head -1 "$TW_TMP/cc.log")"
        exit 77
    fi
fi

BD_PORT=33600
BD2_PORT=33601
FT_PORT=33602

# bd_config NAME PORT IPV6 [BOOTSTRAP_LINE]: write $TW_TMP/NAME/conf
# (lib.sh's tw_bootstrapd_start is IPv4 only; this one can do IPv6).
bd_config() {
    mkdir -p "$TW_TMP/$1"
    cat >"$TW_TMP/$1/conf" <<EOF
port = $2
keys_file_path = "$TW_TMP/$1/keys"
pid_file_path = "$TW_TMP/$1/pid"
enable_ipv6 = $3
enable_ipv4_fallback = true
enable_lan_discovery = false
enable_tcp_relay = false
tcp_relay_ports = [$2]
enable_motd = true
motd = "onion"
bootstrap_nodes = (${4:-})
EOF
}

# bd_up NAME [WRAPPER...]: start tox-bootstrapd NAME (optionally under a
# wrapper such as faketime) and set TW_KEY[NAME] from its log.
bd_up() {
    local name=$1 line; shift
    tw_start "$name" "$@" tox-bootstrapd --config "$TW_TMP/$name/conf" --foreground --log-backend stdout
    line=$(wait_for_line "$(tw_log "$name")" '^Public Key: [0-9A-F]{64}$' 10) ||
        tw_die "tox-bootstrapd '$name' did not start"
    TW_KEY[$name]=${line#Public Key: }
}

# probe LOGNAME ARGS...: run the probe, keep its output in
# $TW_TMP/probe-LOGNAME.out, print it as TAP comments when it fails.
probe() {
    local tag=$1 rc; shift
    "$PROBE" "$@" >"$TW_TMP/probe-$tag.out" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
        grep -E 'FAIL|result=' "$TW_TMP/probe-$tag.out" | sed 's/^/#   /'
    fi
    return "$rc"
}

# val TAG KEY: value of KEY=... in probe-TAG's output.
val() { sed -n "s/^$2=//p" "$TW_TMP/probe-$1.out" | head -1; }

bd_config bd "$BD_PORT" true
bd_up bd
KEYARG=(-k "@$TW_TMP/bd/keys")
check "keys file public key matches the log" test "$(tw_key_from_keys_file "$TW_TMP/bd/keys")" = "${TW_KEY[bd]}"

tw_note "experiment 1: announce 0x83 with no DHT nodes known (t=$(tw_elapsed)s)"
check "probe announce (0 nodes): all expectations hold" probe ann0 -p "$BD_PORT" "${KEYARG[@]}" announce
check "0x83 request is 354 bytes (1+24+32+120+177)" test "$(val ann0 a1.sent)" = 354
check "no nodes: answer 260 bytes, plaintext 33 (is_stored + ping id)" \
    test "$(val ann0 a1.total)/$(val ann0 a1.plain_len)" = 260/33
tw_note "experiment 3: announce 0x87/0x88 with no DHT nodes known"
check "probe announce-new (0 nodes): all expectations hold" probe new0 -p "$BD_PORT" "${KEYARG[@]}" announce-new
check "no nodes: 0x88 plaintext is 34 bytes (count byte 0)" \
    test "$(val new0 n1.plain_len)/$(val new0 n1.total)" = 34/261

tw_note "start bd2 so bd knows one DHT node (t=$(tw_elapsed)s)"
bd_config bd2 "$BD2_PORT" false "{ address = \"127.0.0.1\"; port = $BD_PORT; public_key = \"${TW_KEY[bd]}\"; }"
bd_up bd2
one_node() { probe ann1 -p "$BD_PORT" "${KEYARG[@]}" announce && [ "$(val ann1 a1.nodes)" = 1 ]; }
tcheck "bd puts bd2 in its announce responses" tw_wait_until 15 one_node
check "one node: answer 299 bytes, plaintext 72 (33 + 39)" \
    test "$(val ann1 a1.total)/$(val ann1 a1.plain_len)" = 299/72
check "the node is bd2 (type 2, 127.0.0.1:$BD2_PORT)" \
    grep -qi "^a1.node0=type2 127.0.0.1 $BD2_PORT ${TW_KEY[bd2]}\$" "$TW_TMP/probe-ann1.out"
for k in a1_answer_0x8c_blob_0x84 a2_is_stored_2 a3_search_is_stored_1 a3_returns_data_pk \
    ping_id_from_other_port_rejected ping_id_independent_of_blob ping_id_depends_on_key \
    a5_reask_same_data_pk_is_stored_2 a6_other_data_pk_is_stored_0; do
    check "announce: $k" grep -q "^check.$k=ok" "$TW_TMP/probe-ann1.out"
done
for b in blob0 blob59 blob118 blob176 blob178 blob354 plain_plus1; do
    check "announce with $b is ignored" test "$(val ann1 "len.$b.answer")" = no
done

tw_note "experiment 2: data to route 0x85 (t=$(tw_elapsed)s)"
check "probe route: all expectations hold" probe route -p "$BD_PORT" "${KEYARG[@]}" route
check "0x85 with 100-byte payload (366 bytes) arrives as 335 bytes at the announcer" \
    grep -qx 'r1.payload=100 r1.sent=366 r1.arrived=335 r1.layout_ok=1' "$TW_TMP/probe-route.out"
check "route: payload 17..1134 bytes, request at most 1400" \
    test "$(val route route.min_payload)/$(val route route.max_payload)/$(val route route.max_request_size)" = 17/1134/1400

tw_note "experiment 3: announce 0x87/0x88 with one node (t=$(tw_elapsed)s)"
check "probe announce-new (1 node): all expectations hold" probe new1 -p "$BD_PORT" "${KEYARG[@]}" announce-new
check "one node: 0x88 plaintext 73 bytes (1+32+1+39), answer 300" \
    test "$(val new1 n1.plain_len)/$(val new1 n1.total)" = 73/300

tw_note "experiment 4: onion relaying over IPv4 and IPv6 (t=$(tw_elapsed)s)"
check "probe relay (IPv4): all expectations hold" probe relay4 -p "$BD_PORT" "${KEYARG[@]}" relay
check "0x80 is 227..1400 bytes (rest 103..1276)" \
    grep -qx 'a.min_rest=103 a.min_0x80=227' "$TW_TMP/probe-relay4.out"
check "0x81 to B is 229 bytes for a 113-byte rest (1+24+32+113+59)" test "$(val relay4 a.to_b)" = 229
check "probe relay (IPv6, ::1): all expectations hold" probe relay6 -a ::1 -p "$BD_PORT" "${KEYARG[@]}" relay
check "probe path3 (IPv4): three-hop announce round trip" probe path4 -p "$BD_PORT" "${KEYARG[@]}" path3
check "probe path3 (IPv6): three-hop announce round trip" probe path6 -a ::1 -p "$BD_PORT" "${KEYARG[@]}" path3
check "probe announce (IPv6): all expectations hold" probe ann6 -a ::1 -p "$BD_PORT" "${KEYARG[@]}" announce

tw_note "experiment 5: return-path key lifetime under faketime x1000 (t=$(tw_elapsed)s)"
FT_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
if [ -n "$FT_LIB" ]; then
    bd_config ft "$FT_PORT" false
    # libfaketime preloaded through env (which execs), not the faketime
    # command: that one forks, so stopping it left tox-bootstrapd running,
    # its clock at x1000, after the test.
    bd_up ft env LD_PRELOAD="$FT_LIB" FAKETIME='+0 x1000' DONT_FAKE_MONOTONIC=0
    # 40 ticks of ~0.5 s: 20 s real, about 20000 s of the node's clock
    probe hold -w 300 -p "$FT_PORT" -k "@$TW_TMP/ft/keys" blob-hold 40 200
    check "blobs of the current key work, all older ones fail (no partial ticks)" \
        test "$(val hold hold.bad_shape_ticks)" = 0
    check "at least two key changes seen ($(val hold hold.resets))" test "$(val hold hold.resets)" -ge 2
    gap=$(val hold hold.gap1)
    check "key changes 7.2 s apart at x1000, i.e. every 7200 s (gap ${gap}s)" \
        awk -v g="${gap:-0}" 'BEGIN { exit !(g >= 6.4 && g <= 8.2) }'
else
    echo "ok - # SKIP faketime not installed (experiment 5)"
    TW_CHECKS=$((TW_CHECKS + 1))
fi

check "bd still running" tw_alive bd
tw_summary
