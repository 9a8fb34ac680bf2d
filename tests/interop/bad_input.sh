#!/usr/bin/env bash
# bad_input.sh: toxwire refuses bad keys files, configs, node specs and
# ports with a clear message, and warns about config options it ignores.
# No c-toxcore involved; runs in a private network namespace anyway so the
# port tests cannot collide with anything on the host.
#
# Every rejection must: exit non-zero promptly (a toxwire that starts
# instead is killed after 10 s and counted as a failure), say what is wrong
# in a message naming the file / line / value, carry no sanitizer report,
# and leave an existing keys file byte-for-byte unchanged.
#
# Usage (as root; re-execs itself under tests/interop/netns-run):
#   TOXWIRE=path/to/toxwire tests/interop/bad_input.sh
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tw_require_netns "$@"
tw_need python3 sha256sum timeout head
tw_init
tw_toxwire_bin
TW=$TW_TOXWIRE_BIN
D=$TW_TMP/bad
mkdir -p "$D"

# expect_reject DESC WANT CMD [ARGS...]: CMD exits non-zero within 10 s and
# its stderr contains the fixed string WANT (and no sanitizer report).
# Leaves the stderr in $REJECT_OUT for further checks.
REJECT_OUT=
expect_reject() {
    local desc=$1 want=$2 rc; shift 2
    REJECT_OUT=$(timeout 10 "$@" 2>&1 >/dev/null); rc=$?
    if [ "$rc" -eq 124 ]; then
        fail "$desc: rejected" "still running after 10 s (not rejected)"
    elif [ "$rc" -eq 0 ]; then
        fail "$desc: rejected" "exit status 0" "stderr: $REJECT_OUT"
    elif ! grep -qF -- "$want" <<<"$REJECT_OUT"; then
        fail "$desc: rejected, message contains '$want'" "exit $rc" "stderr: $REJECT_OUT"
    elif grep -qE 'Sanitizer|runtime error:' <<<"$REJECT_OUT"; then
        fail "$desc: rejected cleanly" "sanitizer report:" "$REJECT_OUT"
    else
        pass "$desc: rejected (exit $rc), message contains '$want'"
        tw_note "  $(head -n1 <<<"$REJECT_OUT")"
    fi
}

sum() { sha256sum <"$1"; }

# said DESC TEXT: the last rejection's stderr contains TEXT (fixed string,
# case-insensitive).
said() { check "$1" grep -qiF -- "$2" <<<"$REJECT_OUT"; }

# ------------------------------------------------------------ keys files

"$TW" id --keys "$D/good1" >/dev/null 2>&1 || tw_die "cannot create a keys file"
"$TW" id --keys "$D/good2" >/dev/null 2>&1 || tw_die "cannot create a keys file"
check "toxwire id reads back the key it created" \
    test "$("$TW" id --keys "$D/good1" 2>/dev/null)" = "$(tw_key_from_keys_file "$D/good1")"

head -c 40 "$D/good1" >"$D/truncated"
: >"$D/empty"
cat "$D/good1" <(head -c 1 "$D/good1") >"$D/long"
# Public half of one key pair, secret half of another: 64 bytes, wrong.
cat <(head -c 32 "$D/good1") <(tail -c 32 "$D/good2") >"$D/mismatched"
check "mismatched keys file is 64 bytes" test "$(wc -c <"$D/mismatched")" -eq 64

for f in truncated empty long mismatched; do
    before=$(sum "$D/$f")
    expect_reject "toxwire id --keys, keys file $f" "$D/$f" "$TW" id --keys "$D/$f"
    check "  ...$f keys file unchanged" test "$(sum "$D/$f")" = "$before"
done
said "  ...the message says the halves do not match" "does not match"

before=$(sum "$D/truncated")
expect_reject "toxwire bootstrap --keys on a truncated keys file" "$D/truncated" \
    "$TW" bootstrap --keys "$D/truncated" --port 34001 --ipv4-only
check "  ...truncated keys file unchanged" test "$(sum "$D/truncated")" = "$before"
expect_reject "toxwire bootstrap --keys on a directory" "$D" \
    "$TW" bootstrap --keys "$D" --port 34001 --ipv4-only

# ------------------------------------------------------------ config files

# conf NAME LINES...: write $D/NAME.conf, one argument per line.
conf() { local n=$1; shift; printf '%s\n' "$@" >"$D/$n.conf"; }

conf syntax \
    'port = 34002' \
    "keys_file_path = \"$D/syntax.keys\"" \
    'enable_ipv6 = = false' \
    'motd = "x"'
expect_reject "config with a syntax error (line 3)" "$D/syntax.conf:3" \
    "$TW" bootstrap --config "$D/syntax.conf"
check "  ...no keys file created for a rejected config" test ! -e "$D/syntax.keys"

conf portx \
    "keys_file_path = \"$D/portx.keys\"" \
    'port = "x"'
expect_reject 'config with port = "x" (line 2)' "$D/portx.conf:2" \
    "$TW" bootstrap --config "$D/portx.conf"
said "  ...the message names 'port'" "'port'"

conf portbig \
    "keys_file_path = \"$D/portbig.keys\"" \
    'enable_ipv6 = false' \
    'port = 70000'
expect_reject 'config with port = 70000 (line 3)' "$D/portbig.conf:3" \
    "$TW" bootstrap --config "$D/portbig.conf"

conf boolstr \
    "keys_file_path = \"$D/boolstr.keys\"" \
    'port = 34002' \
    'enable_ipv6 = "no"'
expect_reject 'config with enable_ipv6 = "no" (line 3)' "$D/boolstr.conf:3" \
    "$TW" bootstrap --config "$D/boolstr.conf"

conf badnode \
    "keys_file_path = \"$D/badnode.keys\"" \
    'port = 34002' \
    'enable_ipv6 = false' \
    'bootstrap_nodes = (' \
    '  { address = "127.0.0.1"; port = 33445; public_key = "1234"; }' \
    ')'
expect_reject "config with a short bootstrap node key (line 5)" "$D/badnode.conf:5" \
    "$TW" bootstrap --config "$D/badnode.conf"

expect_reject "missing config file" "$D/nonexistent.conf" \
    "$TW" bootstrap --config "$D/nonexistent.conf"

# ------------------------------------------------------------ node specs

KEY=$(tw_key_from_keys_file "$D/good1")
for spec in "1.2.3.4:33445" "host:99999:$KEY" "127.0.0.1:33445:XYZ" "127.0.0.1::$KEY" "$KEY"; do
    expect_reject "--bootstrap '${spec:0:30}'" "HOST:PORT:KEY" \
        "$TW" bootstrap --keys "$D/good1" --port 34003 --ipv4-only --bootstrap "$spec"
    said "  ...the message quotes the spec" "'$spec'"
done

# ------------------------------------------------------------ ports

for p in 0 65536 abc ""; do
    expect_reject "--port '$p'" "--port" \
        "$TW" bootstrap --keys "$D/good1" --port "$p" --ipv4-only
done

BUSY=34004
tw_udp_hold hold "$BUSY"
expect_reject "--port $BUSY already in use (IPv4 only)" "$BUSY" \
    "$TW" bootstrap --keys "$D/good1" --port "$BUSY" --ipv4-only
said "  ...the message says 'in use'" "in use"
# Dual-stack (the default): a [::] socket's port includes IPv4's, so this
# must fail the same way (or, without IPv6 in the namespace, fall back to
# IPv4 and fail there).
expect_reject "--port $BUSY already in use (dual-stack default)" "$BUSY" \
    "$TW" bootstrap --keys "$D/good1" --port "$BUSY"

# ------------------------------------------------------------ warnings

conf warn \
    "keys_file_path = \"$D/warn.keys\"" \
    'port = 34005' \
    'enable_ipv6 = false' \
    'enable_lan_discovery = false' \
    'enable_tcp_relay = true' \
    'tcp_relay_ports = [443, 3389, 33445]' \
    'foo = 1'
tw_toxwire_run warn --config "$D/warn.conf"
check "toxwire starts with unsupported config options, on port 34005" test "${TW_PORT[warn]}" = 34005
check "  ...serves the TCP relay on tcp_relay_ports" grep -q 'TCP relay on ports 443,3389,33445$' "$(tw_log warn)"
check "  ...warns about the unknown key foo with its line" \
    grep -E "warn.*$D/warn\\.conf:7:.*'foo'" "$(tw_log warn)"
check "  ...answers Bootstrap Info (it is really up)" tw_bootstrap_info 127.0.0.1 34005
tw_stop warn; rc=$?
check "  ...exits 0 on SIGTERM" test "$rc" -eq 0
check "  ...log has no error or sanitizer report" tw_log_clean warn
check "  ...created its keys file" test "$(wc -c <"$D/warn.keys")" -eq 64

# A config tox-bootstrapd runs with must not be refused: it cuts a long MOTD
# (so toxwire cuts it to the 256 bytes Bootstrap Info carries, with a
# warning), and with enable_motd = false it does not answer Bootstrap Info
# at all (so toxwire does not either).
long_motd=$(printf 'm%.0s' $(seq 300))
conf longmotd \
    "keys_file_path = \"$D/longmotd.keys\"" \
    'port = 34006' \
    'enable_ipv6 = false' \
    'enable_lan_discovery = false' \
    'enable_tcp_relay = false' \
    "motd = \"$long_motd\""
tw_toxwire_run longmotd --config "$D/longmotd.conf"
check "a 300-byte config MOTD is accepted, with a warning naming its line" \
    grep -E "warn.*$D/longmotd\.conf:6:.*'motd' is 300 bytes" "$(tw_log longmotd)"
info=$(tw_bootstrap_info 127.0.0.1 34006)
check "  ...and Bootstrap Info carries its first 256 bytes" \
    test "$(sed -n 's/^motd //p' <<<"$info")" = "${long_motd:0:256}"
tw_stop longmotd

conf nomotd \
    "keys_file_path = \"$D/nomotd.keys\"" \
    'port = 34007' \
    'enable_ipv6 = false' \
    'enable_lan_discovery = false' \
    'enable_tcp_relay = false' \
    'enable_motd = false'
tw_toxwire_run nomotd --config "$D/nomotd.conf"
check "enable_motd = false: toxwire starts" \
    grep -q "public key" "$(tw_log nomotd)"
check "  ...and does not answer Bootstrap Info, as tox-bootstrapd does not" \
    test "$(tw_udp_probe 127.0.0.1 34007 "f0$(printf '00%.0s' $(seq 77))" 1)" = "no answer"
tw_stop nomotd

# ---- onion packets from a stranger: junk of every onion kind and size
tw_toxwire_start onion 34008
junk=$(python3 - "${TW_PORT[onion]}" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
kinds = [0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x8c, 0x8d, 0x8e]
for k in kinds:
    for n in (1, 2, 100, 227, 354, 531, 1400, 1401, 2000):
        s.sendto(bytes([k]) + os.urandom(n - 1), ("127.0.0.1", int(sys.argv[1])))
answers = 0
try:
    while True:
        s.recvfrom(4096)
        answers += 1
except socket.timeout:
    pass
print("answers %d" % answers)
PY
)
check "onion junk (12 kinds x 9 sizes): no answer to a stranger ($junk)" test "$junk" = "answers 0"
sleep 1.2 # a status write
check "  ...the node is still up and answers Bootstrap Info" tw_bootstrap_info 127.0.0.1 34008
check "  ...nothing relayed for junk (onion_requests_relayed 0)" \
    test "$(tw_status_value onion onion_requests_relayed)" = 0
check "  ...drops counted by reason in the status file" \
    grep -qE '^onion_dropped "(decryption failed|input too short|input too long)" [0-9]+$' "$(tw_status onion)"
tw_note "$(grep '^onion_dropped' "$(tw_status onion)" | tr '\n' ';')"
tw_stop onion
check "  ...log has no error or sanitizer report" tw_log_clean onion

# ---- toxwire node: profiles, command lines, commands, net_crypto junk
P=$D/node.profile
tw_node_start nodeA --profile "$P" --port 34009 --ipv4-only
check "toxwire node creates its profile with mode 0600" test "$(stat -c %a "$P")" = 600
tw_peer_send nodeA "add 0123 hello"
tw_peer_send nodeA "add $(printf 'AB%.0s' $(seq 38)) hello"
tw_peer_send nodeA "accept XYZ"
tw_peer_send nodeA "msg 7 hello"
tw_peer_send nodeA "sendfile 0 /nonexistent/file"
tw_peer_send nodeA "lossless 0 zz"
tw_peer_send nodeA "frobnicate"
tw_peer_send nodeA "id"
check "node: a short Tox ID is refused with a reason" \
    wait_for_line "$(tw_log nodeA)" "^error add: '0123' is not a Tox ID" 5
check "node: a Tox ID with a bad checksum is refused" \
    wait_for_line "$(tw_log nodeA)" "^error add: 'ABAB.*' is not a Tox ID \(76 hex digits with a valid checksum\)" 5
check "node: a bad key for accept is refused" \
    wait_for_line "$(tw_log nodeA)" "^error accept: 'XYZ' is not a public key" 5
check "node: a message to no friend is refused" wait_for_line "$(tw_log nodeA)" "^error msg: no such friend '7'" 5
check "node: a file to no friend is refused" wait_for_line "$(tw_log nodeA)" "^error sendfile: no such friend" 5
check "node: an unknown command is named" wait_for_line "$(tw_log nodeA)" "^error frobnicate: unknown command" 5
check "node: still answers after bad commands" wait_for_line "$(tw_log nodeA)" "^id [0-9A-F]{76}\$" 5
nc_junk=$(python3 - 34009 <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
for k in (0x18, 0x19, 0x1a, 0x1b):
    for n in (1, 2, 3, 20, 144, 145, 146, 161, 385, 1400, 1401, 2000):
        for _ in range(3):
            s.sendto(bytes([k]) + os.urandom(n - 1), ("127.0.0.1", int(sys.argv[1])))
answers = 0
try:
    while True:
        s.recvfrom(4096)
        answers += 1
except socket.timeout:
    pass
print("answers %d" % answers)
PY
)
check "net_crypto junk (4 kinds x 12 sizes x 3): no answer to a stranger ($nc_junk)" test "$nc_junk" = "answers 0"
m=$(tw_mark "$(tw_log nodeA)")
tw_peer_send nodeA "stats"
check "  ...the node is up and counts the drops by reason" \
    wait_for_line_from "$(tw_log nodeA)" "$m" "^stats net_crypto dropped (decryption failed|input too short|input too long|no such entry) [0-9]+\$" 5
tw_note "$(grep '^stats net_crypto dropped' "$(tw_log nodeA)" | tr '\n' ';')"
tw_peer_send nodeA quit
check "node: exits 0 on quit" tw_wait nodeA
check "  ...log has no sanitizer report" bash -c "! grep -qE 'Sanitizer|runtime error:' '$(tw_log nodeA)'"

# ---- toxwire node: TCP relay options, and relays that are not there or lie
K=$(printf 'AB%.0s' $(seq 32))
expect_reject "node: --udp with a bad value" "--udp 'maybe': use on or off" \
    "$TW" node --profile "$D/r.profile" --udp maybe
expect_reject "node: --udp off without a relay" "--udp off needs at least one --tcp-relay" \
    "$TW" node --profile "$D/r.profile" --udp off
expect_reject "node: --tcp-relay with a bad key" "--tcp-relay '127.0.0.1:33445:XYZ'" \
    "$TW" node --profile "$D/r.profile" --tcp-relay 127.0.0.1:33445:XYZ
expect_reject "node: --udp off with a --port" "--port is the UDP port" \
    "$TW" node --profile "$D/r.profile" --udp off --port 34020 --tcp-relay "127.0.0.1:34021:$K"
# A relay port where nothing listens, and one that answers the handshake
# with junk: the node gives up on each, retries later, and stays up.
python3 - 34022 >"$D/junk_relay.log" 2>&1 <<'PY' &
import os, socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(8)
print("listening", flush=True)
while True:
    c, _ = srv.accept()
    c.recv(4096)
    c.sendall(os.urandom(96) + os.urandom(5000))
    print("junk sent", flush=True)
PY
junk_pid=$!
wait_for_line "$D/junk_relay.log" '^listening$' 5 >/dev/null
tw_node_start nodeR --profile "$D/r.profile" --udp off --ipv4-only --log-level info \
    --tcp-relay "127.0.0.1:34021:$K" --tcp-relay "127.0.0.1:34022:$(printf 'CD%.0s' $(seq 32))"
check "node: a relay where nothing listens is given up and retried later" \
    wait_for_line "$(tw_log nodeR)" 'relay 127.0.0.1:34021 unreachable; retry in 5 s' 10
check "node: a relay that answers the handshake with junk is dropped" \
    wait_for_line "$(tw_log nodeR)" 'relay 127.0.0.1:34022 unreachable; retry in 5 s' 10
check "  ...and tried again after the backoff (5 s, then 10 s)" \
    wait_for_line "$(tw_log nodeR)" 'relay 127.0.0.1:34022 unreachable; retry in 10 s' 15
tw_peer_send nodeR id
check "  ...the node is up and answers" wait_for_line "$(tw_log nodeR)" "^id [0-9A-F]{76}\$" 5
tw_peer_send nodeR quit
check "node: exits 0 on quit" tw_wait nodeR
check "  ...log has no sanitizer report" bash -c "! grep -qE 'Sanitizer|runtime error:' '$(tw_log nodeR)'"
kill "$junk_pid" 2>/dev/null; wait "$junk_pid" 2>/dev/null

cp "$P" "$D/good.profile"
head -c 100 "$D/good.profile" >"$D/truncated.profile"
sum=$(sha256sum "$D/truncated.profile")
expect_reject "node: a truncated profile" "truncated" "$TW" node --profile "$D/truncated.profile"
check "  ...and it is left as it was" test "$(sha256sum "$D/truncated.profile")" = "$sum"
head -c 3000 /dev/urandom >"$D/junk.profile"
sum=$(sha256sum "$D/junk.profile")
expect_reject "node: a profile of random bytes" "junk.profile" "$TW" node --profile "$D/junk.profile"
check "  ...and it is left as it was" test "$(sha256sum "$D/junk.profile")" = "$sum"
expect_reject "node: --import of a missing file" "--import $D/missing.save" \
    "$TW" node --profile "$D/new.profile" --import "$D/missing.save"
expect_reject "node: --import over an existing profile" "exists already" \
    "$TW" node --profile "$D/good.profile" --import "$D/good.profile"
expect_reject "node: --accept-files that is not a directory" "not a directory" \
    "$TW" node --profile "$D/x.profile" --accept-files /nonexistent
expect_reject "node: a bad --bootstrap" "--bootstrap 'nonsense'" \
    "$TW" node --profile "$D/x.profile" --bootstrap nonsense
expect_reject "node: no --profile" "--profile is required" "$TW" node

# ---- the TCP relay: bad options, and a stranger's bytes on its port
expect_reject "bootstrap: --tcp-port 0" "--tcp-port must be ports" \
    "$TW" bootstrap --keys "$D/good1" --tcp-port 0
expect_reject "bootstrap: --tcp-port abc" "--tcp-port must be ports" \
    "$TW" bootstrap --keys "$D/good1" --tcp-port abc
expect_reject "bootstrap: --tcp-port with 9 ports" "at most 8 ports" \
    "$TW" bootstrap --keys "$D/good1" --tcp-port 1,2,3,4,5,6,7,8,9
expect_reject "bootstrap: --tcp-max-per-ip 0" "--tcp-max-per-ip must be a number" \
    "$TW" bootstrap --keys "$D/good1" --tcp-port 34011 --tcp-max-per-ip 0
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",34012)); s.listen(); time.sleep(30)' &
holder=$!
wait_for_tcp() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' "$1"; }
tw_wait_until 5 wait_for_tcp 34012
expect_reject "bootstrap: --tcp-port already in use" "TCP port 34012" \
    "$TW" bootstrap --keys "$D/good1" --port 34012 --tcp-port 34012
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

tw_toxwire_start tcp 34013 --tcp-port 34013 --tcp-max-per-ip 8
tcp_junk=$(timeout 60 python3 - 34013 <<'PY'
import os, socket, sys, time
port = int(sys.argv[1])
def closed_within(s, secs):
    """True when the server closes s (EOF or reset) within secs."""
    s.settimeout(secs)
    try:
        while s.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True
out = []
# A handshake of random bytes: it cannot open, so the server hangs up.
s = socket.create_connection(("127.0.0.1", port))
s.sendall(os.urandom(128))
out.append("junk_handshake_closed=%d" % closed_within(s, 3))
# A megabyte of random bytes.
s = socket.create_connection(("127.0.0.1", port))
try:
    s.sendall(os.urandom(1 << 20))
except OSError:
    pass
out.append("junk_megabyte_closed=%d" % closed_within(s, 3))
# Twelve silent connections from one address: eight are held, four refused.
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(12)]
time.sleep(0.5)
refused = sum(closed_within(c, 0.3) for c in held)
out.append("per_ip_refused=%d" % refused)
for c in held:
    c.close()
time.sleep(0.3)
# Half a handshake, then nothing; and nothing at all: both closed in 10 s.
half = socket.create_connection(("127.0.0.1", port))
half.sendall(os.urandom(60))
silent = socket.create_connection(("127.0.0.1", port))
t0 = time.time()
a = closed_within(half, 13)
b = closed_within(silent, max(0.1, 13 - (time.time() - t0)))
out.append("half_open_closed=%d silent_closed=%d after=%.1f" % (a, b, time.time() - t0))
print(" ".join(out))
PY
)
tw_note "tcp junk: $tcp_junk"
check "TCP relay: a handshake of random bytes is hung up on" grep -q 'junk_handshake_closed=1' <<<"$tcp_junk"
check "  ...so is a megabyte of random bytes" grep -q 'junk_megabyte_closed=1' <<<"$tcp_junk"
check "  ...12 connections from one IP with --tcp-max-per-ip 8: 4 refused" grep -q 'per_ip_refused=4' <<<"$tcp_junk"
check "  ...half a handshake, and no handshake, are closed within 13 s" \
    grep -q 'half_open_closed=1 silent_closed=1' <<<"$tcp_junk"
sleep 1.2 # a status write
check "  ...bad handshakes counted (tcp_handshakes_bad >= 2)" tw_status_ge tcp tcp_handshakes_bad 2
check "  ...refusals counted (tcp_refused_addr >= 4)" tw_status_ge tcp tcp_refused_addr 4
check "  ...timeouts counted (tcp_closed_timeout >= 2)" tw_status_ge tcp tcp_closed_timeout 2
check "  ...no client is left held (tcp_clients 0)" test "$(tw_status_value tcp tcp_clients)" = 0
check "  ...the node still answers Bootstrap Info" tw_bootstrap_info 127.0.0.1 34013
tw_stop tcp; rc=$?
check "  ...and exits 0 on SIGTERM" test "$rc" -eq 0
check "  ...log has no error or sanitizer report" tw_log_clean tcp

tw_summary
