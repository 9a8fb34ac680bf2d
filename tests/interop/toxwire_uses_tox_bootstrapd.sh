#!/usr/bin/env bash
# toxwire_uses_tox_bootstrapd.sh: a toxwire bootstrap node joins a network
# whose only entry point is c-toxcore's tox-bootstrapd.
#
# In a private network namespace (loopback only): tox-bootstrapd on
# 127.0.0.1:33445 (no bootstrap nodes, LAN discovery off, TCP relay off),
# four toxcore_peer instances bootstrapped from it (and online), then one
# `toxwire bootstrap` on UDP 34445 bootstrapped ONLY from tox-bootstrapd.
# Checks that toxwire's close list (status file) comes to hold, as good
# nodes, tox-bootstrapd and all four peers. toxwire knows nobody but
# tox-bootstrapd at start, so it learns the peers either from Nodes
# responses or from the peers' own requests once tox-bootstrapd has told
# them about toxwire; either way a node is only listed as good after it
# answered toxwire.
#
# Usage (as root; re-execs itself under tests/interop/netns-run):
#   TOXWIRE=path/to/toxwire TOXCORE_PEER=path/to/toxcore_peer \
#       tests/interop/toxwire_uses_tox_bootstrapd.sh
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_need tox-bootstrapd
tw_init
tw_toxwire_bin

NPEERS=4
BD_PORT=33445
TW_UDP=34445

tw_note "start tox-bootstrapd (t=$(tw_elapsed)s)"
tw_bootstrapd_start bd "$BD_PORT" "" "tox-bootstrapd for toxwire"
check "tox-bootstrapd up, key ${TW_KEY[bd]:0:8}..." test -n "${TW_KEY[bd]}"

tw_note "start $NPEERS toxcore_peer instances (t=$(tw_elapsed)s)"
BD_NODE="127.0.0.1:$BD_PORT:${TW_KEY[bd]}"
PEERS=()
for i in $(seq 1 "$NPEERS"); do
    tw_peer_start "p$i" --bootstrap "$BD_NODE" --local-discovery off --ipv6 off --timeout 70
    PEERS+=("p$i")
done
PEER_KEYS=()
for p in "${PEERS[@]}"; do PEER_KEYS+=("${TW_KEY[$p]}"); done
tw_wait_connected $(($(date +%s) + 30)) "${PEERS[@]}"

tw_note "start toxwire, bootstrapping only from tox-bootstrapd (t=$(tw_elapsed)s)"
tw_toxwire_start tw "$TW_UDP" --bootstrap "$BD_NODE"
check "toxwire up on UDP $TW_UDP" test "${TW_PORT[tw]}" = "$TW_UDP"
check "toxwire logs its bootstrap node" \
    wait_for_line "$(tw_log tw)" "bootstrapping from 127\\.0\\.0\\.1:$BD_PORT:${TW_KEY[bd]}" 2

t0=$(tw_elapsed)
if tw_wait_until 10 tw_status_has_nodes tw "${TW_KEY[bd]}"; then
    pass "toxwire lists tox-bootstrapd as a good node (after $(tw_elapsed)s, started at ${t0}s)"
else
    tw_status_dump tw
    fail "toxwire lists tox-bootstrapd as a good node"
fi
check "...at 127.0.0.1:$BD_PORT" grep -q "^node ${TW_KEY[bd]} 127\\.0\\.0\\.1:$BD_PORT\$" "$(tw_status tw)"

if tw_wait_until 25 tw_status_has_nodes tw "${PEER_KEYS[@]}"; then
    pass "toxwire lists all $NPEERS c-toxcore peers as good nodes (at $(tw_elapsed)s)"
else
    tw_status_dump tw
    fail "toxwire lists all $NPEERS c-toxcore peers as good nodes" \
        "only $(tw_status_count_nodes tw "${PEER_KEYS[@]}") of $NPEERS listed"
fi
check "toxwire status: close_good_nodes >= $((NPEERS + 1))" \
    tw_status_ge tw close_good_nodes $((NPEERS + 1))
check "toxwire status: nodes_responses_in > 0 ($(tw_status_value tw nodes_responses_in))" \
    tw_status_ge tw nodes_responses_in 1
# The network is still healthy with toxwire in it.
for p in "${PEERS[@]}"; do
    check "$p still online" tw_alive "$p"
done
if grep -q '^self_connection NONE$' "$(tw_log p1)"; then
    fail "p1 never went offline" "$(grep self_connection "$(tw_log p1)")"
else
    pass "p1 never went offline"
fi

tw_stop tw; rc=$?
check "toxwire exits 0 on SIGTERM" test "$rc" -eq 0
check "toxwire log has no error or sanitizer report" tw_log_clean tw

tw_summary
