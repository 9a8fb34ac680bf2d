#!/usr/bin/env bash
# c_bootstrap_nodes_use_toxwire.sh: c-toxcore's own bootstrap daemons use a
# toxwire bootstrap node as their bootstrap node, and toxwire reads
# tox-bootstrapd's config and keys.
#
# In a private network namespace (loopback only):
#   tw  `toxwire bootstrap` on 127.0.0.1:34445
#   bd  tox-bootstrapd on UDP 33600, config bootstrap_nodes = ( tw )
#   db  DHT_bootstrap --ipv4 127.0.0.1 34445 TW_KEY (connected mode); it
#       takes UDP 33445 (and TCP 443/3389/33445 for its relay)
# Checks:
#   - tox-bootstrapd and DHT_bootstrap each log that they connected to
#     another bootstrap node (their only one is toxwire);
#   - toxwire's status file lists both of them as good nodes (they answered
#     toxwire's requests) and counts their requests to it;
#   - Bootstrap Info (0xf0) requests: toxwire answers with its MOTD, as
#     tox-bootstrapd does with its own;
#   - `toxwire bootstrap --config` on the config tox-bootstrapd just used
#     (tox-bootstrapd stopped first): same public key, same port, same MOTD,
#     its bootstrap_nodes used, the keys file left as it was, and warnings
#     for the options toxwire does not act on.
#
# Usage (as root; re-execs itself under tests/interop/netns-run):
#   TOXWIRE=path/to/toxwire tests/interop/c_bootstrap_nodes_use_toxwire.sh
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_need tox-bootstrapd DHT_bootstrap python3 stdbuf sha256sum
tw_init
tw_toxwire_bin

TW_UDP=34445
BD_PORT=33600
TW_MOTD="toxwire interop motd"
BD_MOTD="tox-bootstrapd interop motd"
CONNECTED_RE='^Connected to (another|other) bootstrap node successfully\.$'

tw_note "start toxwire (t=$(tw_elapsed)s)"
tw_toxwire_start tw "$TW_UDP" --motd "$TW_MOTD"
TW_NODE="127.0.0.1:$TW_UDP:${TW_KEY[tw]}"

tw_note "start tox-bootstrapd and DHT_bootstrap, both pointed at toxwire (t=$(tw_elapsed)s)"
tw_bootstrapd_start bd "$BD_PORT" "" "$BD_MOTD" "$TW_NODE"
check "tox-bootstrapd read toxwire as its bootstrap node" \
    wait_for_line "$(tw_log bd)" "^Successfully added bootstrap node #0: 127\\.0\\.0\\.1:$TW_UDP ${TW_KEY[tw]}\$" 1
tw_dht_bootstrap_start db --ipv4 127.0.0.1 "$TW_UDP" "${TW_KEY[tw]}"
check "DHT_bootstrap up on UDP ${TW_PORT[db]}, key ${TW_KEY[db]:0:8}..." test -n "${TW_KEY[db]}"
check "DHT_bootstrap's key file matches its logged key" \
    test "$(tw_key_from_keys_file "$TW_TMP/db/key")" = "${TW_KEY[db]}"

check "tox-bootstrapd logs it connected to another bootstrap node" \
    wait_for_line "$(tw_log bd)" "$CONNECTED_RE" 15
check "DHT_bootstrap logs it connected to another bootstrap node" \
    wait_for_line "$(tw_log db)" "$CONNECTED_RE" 15

if tw_wait_until 10 tw_status_has_nodes tw "${TW_KEY[bd]}" "${TW_KEY[db]}"; then
    pass "toxwire lists tox-bootstrapd and DHT_bootstrap as good nodes"
else
    tw_status_dump tw
    fail "toxwire lists tox-bootstrapd and DHT_bootstrap as good nodes"
fi
check "...tox-bootstrapd at 127.0.0.1:$BD_PORT" \
    grep -q "^node ${TW_KEY[bd]} 127\\.0\\.0\\.1:$BD_PORT\$" "$(tw_status tw)"
check "...DHT_bootstrap at 127.0.0.1:${TW_PORT[db]}" \
    grep -q "^node ${TW_KEY[db]} 127\\.0\\.0\\.1:${TW_PORT[db]}\$" "$(tw_status tw)"
nreq=$(tw_status_value tw nodes_requests_in)
preq=$(tw_status_value tw ping_requests_in)
if [ "${nreq:-0}" -ge 2 ] || [ "${preq:-0}" -gt 0 ]; then
    pass "toxwire answered their requests (nodes_requests_in $nreq, ping_requests_in $preq)"
else
    tw_status_dump tw
    fail "toxwire answered their requests" "nodes_requests_in $nreq, ping_requests_in $preq"
fi
check "toxwire got Nodes responses (nodes_responses_in $(tw_status_value tw nodes_responses_in))" \
    tw_status_ge tw nodes_responses_in 1

tw_note "Bootstrap Info (t=$(tw_elapsed)s)"
info_check() { # NAME PORT MOTD
    local out
    if ! out=$(tw_bootstrap_info 127.0.0.1 "$2"); then
        fail "$1 answers Bootstrap Info" "$out"
        return
    fi
    tw_note "$1 answer: $(printf '%s' "$out" | tr '\n' ' ')"
    check "$1 answers Bootstrap Info with its MOTD" grep -qxF "motd $3" <<<"$out"
    check "$1's version field is in the 1MMMmmmppp layout" grep -qE '^version 1[0-9]{9}$' <<<"$out"
}
info_check toxwire "$TW_UDP" "$TW_MOTD"
info_check tox-bootstrapd "$BD_PORT" "$BD_MOTD"
check "toxwire counts it (bootstrap_info_answered >= 1)" \
    tw_wait_until 3 tw_status_ge tw bootstrap_info_answered 1
# c-toxcore only answers requests of exactly 78 bytes; so should we.
short=f0$(printf '%0152d' 0)  # 77 bytes in hex
out=$(tw_udp_probe 127.0.0.1 "$BD_PORT" "$short")
check "tox-bootstrapd ignores a 77-byte Bootstrap Info request ($out)" test "$out" = "no answer"
out=$(tw_udp_probe 127.0.0.1 "$TW_UDP" "$short")
check "toxwire ignores a 77-byte Bootstrap Info request ($out)" test "$out" = "no answer"

tw_note "toxwire bootstrap --config with tox-bootstrapd's config (t=$(tw_elapsed)s)"
BD_CONF=$TW_TMP/bd/tox-bootstrapd.conf
keys_sum=$(sha256sum <"$TW_TMP/bd/keys")
tw_stop bd; rc=$?
check "tox-bootstrapd stopped (exit $rc)" test "$rc" -eq 0
tw_toxwire_run tw2 --config "$BD_CONF" --status-interval 1 --status-file "$(tw_status tw2)"
check "toxwire --config has tox-bootstrapd's public key" test "${TW_KEY[tw2]}" = "${TW_KEY[bd]}"
check "toxwire --config uses the config's port $BD_PORT" test "${TW_PORT[tw2]}" = "$BD_PORT"
check "toxwire --config writes that key in its status file" \
    tw_wait_until 3 grep -qx "public_key ${TW_KEY[bd]}" "$(tw_status tw2)"
check "toxwire --config is IPv4 only (enable_ipv6 = false)" grep -q '(IPv4 only)' "$(tw_log tw2)"
check "toxwire --config warns that pid_file_path is ignored" grep -q 'pid_file_path' "$(tw_log tw2)"
check "toxwire --config serves no TCP relay (enable_tcp_relay = false)" \
    bash -c "! grep -q 'TCP relay on' '$(tw_log tw2)'"
check "toxwire --config left tox-bootstrapd's keys file unchanged" \
    test "$(sha256sum <"$TW_TMP/bd/keys")" = "$keys_sum"
info_check "toxwire --config" "$BD_PORT" "$BD_MOTD"
if tw_wait_until 10 tw_status_has_nodes tw2 "${TW_KEY[tw]}"; then
    pass "toxwire --config bootstrapped from the config's bootstrap_nodes (lists tw)"
else
    tw_status_dump tw2
    fail "toxwire --config bootstrapped from the config's bootstrap_nodes (lists tw)"
fi

for n in tw tw2; do
    tw_stop "$n"; rc=$?
    check "$n exits 0 on SIGTERM" test "$rc" -eq 0
    check "$n log has no error or sanitizer report" tw_log_clean "$n"
done
check "DHT_bootstrap still running" tw_alive db

tw_summary
