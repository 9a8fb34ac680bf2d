# lib.sh: bash helpers for toxwire interop tests (source it, don't run it).
#
#   . "$(dirname "$0")/lib.sh"
#   tw_require_netns "$@"        # re-exec the script inside tests/interop/netns-run
#   tw_need tox-bootstrapd       # skip (exit 77) unless these tools exist
#   tw_init                      # temp dir + cleanup trap
#   tw_toxwire_start tw 33445    # toxwire bootstrap ($TOXWIRE), status file
#   tw_peer_start p1 --bootstrap "127.0.0.1:33445:${TW_KEY[tw]}"
#   tw_wait_connected $(($(date +%s) + 30)) p1   # ok/not ok per peer
#   check "tw knows p1" tw_wait_until 10 tw_status_has_nodes tw "${TW_KEY[p1]}"
#   tw_summary
#
# Loopback addresses only (127.0.0.1); see TW_CONNECTED_RE below for what
# that means for c-toxcore's connection status.
#
# Conventions: every background process has a NAME; its stdout+stderr go to
# $TW_TMP/NAME.log (see tw_log NAME) and it is killed when the script exits.
# Values a helper learns about a process are stored in associative arrays
# keyed by NAME (TW_KEY, TW_PORT, TW_TOXID), because a helper that starts a
# background process cannot return values through a $(subshell).
#
# Environment knobs:
#   TW_KEEP=1         keep $TW_TMP (logs, configs) after a passing run too
#                     (it is always kept when the script exits non-zero)
#   TOXCORE_PEER=PATH use this toxcore_peer binary instead of compiling one
#   TOXWIRE=PATH      the toxwire binary (tests using it skip without it)
#   TW_TOXWIRE_LOG_LEVEL=debug  --log-level of toxwires started by
#                     tw_toxwire_start (default info)
#   TW_FAIL_FAST=0    `check` failures don't end the script (default 1)

# The arrays below are filled here and read by the sourcing script, which
# a lint of this file alone cannot see (hence SC2034 is off file-wide).
# shellcheck disable=SC2034

TW_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

declare -A TW_PID=()    # NAME -> pid
declare -A TW_FD=()     # NAME -> fd of the write end of the peer's stdin FIFO
declare -A TW_KEY=()    # NAME -> DHT public key (hex) of a bootstrap node / peer
declare -A TW_PORT=()   # NAME -> UDP port
declare -A TW_TOXID=()  # NAME -> Tox ID (peers)
TW_NAMES=()             # start order, for cleanup in reverse
TW_CHECKS=0
TW_FAILS=0
TW_T0=$(date +%s.%N)

# ---------------------------------------------------------------- reporting

tw_note() { printf '# %s\n' "$*"; }

# Seconds (with ms) since tw_init / sourcing; for phase timing.
tw_elapsed() { awk -v a="$TW_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

pass() { TW_CHECKS=$((TW_CHECKS + 1)); printf 'ok - %s\n' "$1"; }

fail() {
    TW_CHECKS=$((TW_CHECKS + 1)); TW_FAILS=$((TW_FAILS + 1))
    printf 'not ok - %s\n' "$1"
    [ $# -ge 2 ] && printf '#   %s\n' "${@:2}"
    if [ "${TW_FAIL_FAST:-1}" = 1 ]; then
        exit 1
    fi
    return 1
}

# check NAME CMD [ARGS...]: run CMD (its stdout discarded, stderr kept so
# wait_for_line's diagnostics show), report ok/not ok under NAME.
check() {
    local name=$1; shift
    if "$@" >/dev/null; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

# tcheck NAME CMD [ARGS...]: like check, with how long CMD took appended
# to NAME (for waits whose duration is worth seeing in the log).
tcheck() {
    local name=$1 t0 dt; shift
    t0=$(date +%s.%N)
    local ok=0
    "$@" >/dev/null && ok=1
    dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ "$ok" = 1 ]; then pass "$name [${dt}s]"; else fail "$name [${dt}s]" "command failed: $*"; fi
}

# Print the TAP plan (at the end, as TAP allows) and a summary; returns
# non-zero if any check failed.
tw_summary() {
    echo "1..$TW_CHECKS"
    tw_note "$TW_CHECKS checks, $TW_FAILS failed, $(tw_elapsed)s"
    [ "$TW_FAILS" -eq 0 ]
}

tw_die() { printf 'Bail out! %s\n' "$*"; exit 1; }

# ---------------------------------------------------------------- setup

# Re-exec the calling script inside a private network namespace unless we
# are already in one. Call as: tw_require_netns "$@"  (before tw_init).
# Exits 77 (the automake/meson "skipped" status) when that is impossible.
tw_require_netns() {
    if [ "${TW_NETNS:-}" != 1 ]; then
        if [ "$(id -u)" != 0 ] || ! unshare --net true 2>/dev/null; then
            echo "1..0 # SKIP needs root and unshare --net"
            exit 77
        fi
        exec "${BASH:-bash}" "$TW_LIB_DIR/netns-run" "${BASH:-bash}" "$0" "$@"
    fi
}

# tw_need TOOL...: skip the whole test (exit 77) unless every TOOL is on
# PATH. Call it before the first check so the TAP stream stays valid.
tw_need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool not installed"; exit 77; }
    done
}

tw_init() {
    tw_need ip od awk
    TW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tw-interop.XXXXXX") || tw_die "mktemp failed"
    TW_T0=$(date +%s.%N)
    trap tw_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    tw_note "temp dir $TW_TMP"
}

# Kill every registered process (reverse start order): SIGTERM, up to 3 s
# grace, then SIGKILL; reap them all so nothing outlives the script.
tw_cleanup() {
    local rc=$? i name pid deadline
    trap - EXIT
    for ((i = ${#TW_NAMES[@]} - 1; i >= 0; i--)); do
        pid=${TW_PID[${TW_NAMES[i]}]:-}
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    done
    deadline=$(($(date +%s) + 3))
    for name in "${TW_NAMES[@]}"; do
        pid=${TW_PID[$name]:-}
        [ -z "$pid" ] && continue
        while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            tw_note "$name (pid $pid) ignored SIGTERM; SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    # Anything else this shell started in the background.
    local stray
    stray=$(jobs -p)
    # shellcheck disable=SC2086  # one pid per word, splitting intended
    [ -n "$stray" ] && kill -KILL $stray 2>/dev/null
    wait 2>/dev/null
    local fd
    for fd in "${TW_FD[@]}"; do
        exec {fd}>&-
    done
    if [ -n "${TW_TMP:-}" ]; then
        if [ "${TW_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
            tw_note "logs kept in $TW_TMP"
        else
            rm -rf "$TW_TMP"
        fi
    fi
    exit "$rc"
}

# ---------------------------------------------------------------- processes

tw_log() { printf '%s/%s.log' "$TW_TMP" "$1"; }

# tw_start NAME CMD [ARGS...]: run CMD in the background, stdout+stderr to
# $(tw_log NAME), stdin from /dev/null; register it for cleanup.
tw_start() {
    local name=$1; shift
    [ -z "${TW_PID[$name]+x}" ] || tw_die "tw_start: name '$name' already used"
    "$@" </dev/null >"$(tw_log "$name")" 2>&1 &
    TW_PID[$name]=$!
    TW_NAMES+=("$name")
}

# tw_start_in DIR NAME CMD [ARGS...]: like tw_start, with DIR as working
# directory (exec keeps the pid that of CMD itself).
tw_start_in() {
    local dir=$1 name=$2; shift 2
    [ -z "${TW_PID[$name]+x}" ] || tw_die "tw_start_in: name '$name' already used"
    (cd "$dir" && exec "$@") </dev/null >"$(tw_log "$name")" 2>&1 &
    TW_PID[$name]=$!
    TW_NAMES+=("$name")
}

tw_alive() { [ -n "${TW_PID[$1]:-}" ] && kill -0 "${TW_PID[$1]}" 2>/dev/null; }

# tw_wait NAME: reap a process that is exiting by itself (e.g. after a
# quit command); returns its exit status. tw_stop NAME: SIGTERM, then the
# same. Both forget the pid so cleanup never signals a recycled one.
# (Neither works inside $(...): a subshell cannot reap our children.)
tw_wait() {
    local pid=${TW_PID[$1]} rc=0
    [ -n "$pid" ] || return 0
    wait "$pid" 2>/dev/null || rc=$?
    TW_PID[$1]=""
    return "$rc"
}
tw_stop() {
    [ -n "${TW_PID[$1]}" ] && kill -TERM "${TW_PID[$1]}" 2>/dev/null
    tw_wait "$1"
}

# ---------------------------------------------------------------- waiting

# Line count of a log now; pass it to wait_for_line_from to ignore
# everything already in the log.
tw_mark() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# wait_for_line LOGFILE REGEX TIMEOUT_SECONDS
# Poll LOGFILE every 0.1 s for a line matching the extended REGEX; print the
# first matching line on stdout. On timeout (or if the log's process died
# without producing it) report to stderr with the log tail and return 1.
wait_for_line() { wait_for_line_from "$1" 0 "$2" "$3"; }

# wait_for_line_from LOGFILE SKIP_LINES REGEX TIMEOUT_SECONDS
wait_for_line_from() {
    local log=$1 skip=$2 re=$3 timeout=$4 line name pid=""
    local deadline dead=0
    deadline=$(awk -v t="$timeout" -v n="$(date +%s.%N)" 'BEGIN { printf "%.3f", n + t }')
    name=$(basename "$log" .log)
    pid=${TW_PID[$name]:-}
    while :; do
        line=$(tail -n "+$((skip + 1))" "$log" 2>/dev/null | grep -m1 -E -- "$re") && {
            printf '%s\n' "$line"
            return 0
        }
        # One more look after the process died, then give up early.
        [ "$dead" = 1 ] && break
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then dead=1; continue; fi
        awk -v d="$deadline" -v n="$(date +%s.%N)" 'BEGIN { exit !(n >= d) }' && break
        sleep 0.1
    done
    {
        if [ "$dead" = 1 ]; then
            printf '# %s exited before printing /%s/\n' "$name" "$re"
        else
            printf '# timed out after %ss waiting for /%s/ in %s\n' "$timeout" "$re" "$log"
        fi
        printf '# --- last 20 lines of %s:\n' "$log"
        tail -n 20 "$log" 2>/dev/null | sed 's/^/#   /'
    } >&2
    return 1
}

# ---------------------------------------------------------------- keys

# First 32 bytes of a tox-bootstrapd or DHT_bootstrap key file are the
# public key, the next 32 the secret key; print the public one as hex.
tw_key_from_keys_file() {
    od -An -tx1 -N32 -v "$1" | tr -d ' \n' | tr 'a-f' 'A-F'
    echo
}

# ---------------------------------------------------------------- tox-bootstrapd

# tw_bootstrapd_start NAME PORT [TCP_PORTS] [MOTD] [BOOTSTRAP_NODE...]
#   PORT       UDP port (IPv4 only, binds 0.0.0.0, LAN discovery off)
#   TCP_PORTS  comma-separated TCP relay ports; "" disables the TCP relay
#              (default: "" -- no relay)
#   MOTD       reply text for 0xf0 info requests (default "toxwire-interop")
#   BOOTSTRAP_NODE  HOST:PORT:KEYHEX entries for its bootstrap_nodes list
# Runs in the foreground with logs on stdout, waits until it prints its
# public key, sets TW_KEY[NAME] and TW_PORT[NAME]. Config, keys file and
# pid file live in $TW_TMP/NAME/.
tw_bootstrapd_start() {
    local name=$1 port=$2 tcp=${3-} motd=${4-toxwire-interop}
    shift $(($# < 4 ? $# : 4))
    local dir=$TW_TMP/$name conf line key relay=false nodes="" n host rest nport nkey
    mkdir -p "$dir"
    [ -n "$tcp" ] && relay=true
    for n in "$@"; do
        nkey=${n##*:}; rest=${n%:*}; nport=${rest##*:}; host=${rest%:*}
        nodes+="${nodes:+,}
    { address = \"$host\"; port = $nport; public_key = \"$nkey\"; }"
    done
    conf=$dir/tox-bootstrapd.conf
    cat >"$conf" <<EOF
port = $port
keys_file_path = "$dir/keys"
pid_file_path = "$dir/tox-bootstrapd.pid"
enable_ipv6 = false
enable_ipv4_fallback = true
enable_lan_discovery = false
enable_tcp_relay = $relay
tcp_relay_ports = [${tcp:-$port}]
enable_motd = true
motd = "$motd"
bootstrap_nodes = ($nodes
)
EOF
    tw_start "$name" tox-bootstrapd --config "$conf" --foreground --log-backend stdout
    line=$(wait_for_line "$(tw_log "$name")" '^Public Key: [0-9A-F]{64}$' 10) ||
        tw_die "tox-bootstrapd '$name' did not start"
    key=${line#Public Key: }
    TW_KEY[$name]=$key
    TW_PORT[$name]=$port
}

# ---------------------------------------------------------------- DHT_bootstrap

# tw_dht_bootstrap_start NAME [--ipv4|--ipv6] [IP PORT KEYHEX]
# Runs DHT_bootstrap in $TW_TMP/NAME/ (it writes ./key and ./PUBLIC_ID.txt
# into its working directory), waits for its "Port: N" line, and sets
# TW_KEY[NAME], TW_PORT[NAME]. It takes UDP 33445 or the next free port up
# to 33545, and tries TCP relay ports 443, 3389 and 33445 (silently
# skipping those already taken). stdbuf: its stdout is a file, and without
# line buffering nothing would appear until it exits.
tw_dht_bootstrap_start() {
    local name=$1; shift
    local dir=$TW_TMP/$name line log
    mkdir -p "$dir"
    tw_start_in "$dir" "$name" stdbuf -oL DHT_bootstrap "$@"
    log=$(tw_log "$name")
    line=$(wait_for_line "$log" '^Port: [0-9]+$' 10) || tw_die "DHT_bootstrap '$name' did not start"
    TW_PORT[$name]=${line#Port: }
    line=$(wait_for_line "$log" '^Public key: [0-9A-F]{64}$' 1) || tw_die "DHT_bootstrap '$name': no key line"
    TW_KEY[$name]=${line#Public key: }
}

# ---------------------------------------------------------------- toxcore_peer

# Sets TW_PEER_BIN to the toxcore_peer binary: $TOXCORE_PEER if set, else
# toxcore_peer.c compiled into $TW_TMP (once per run).
tw_peer_bin() {
    [ -n "${TW_PEER_BIN:-}" ] && return
    if [ -n "${TOXCORE_PEER:-}" ]; then
        TW_PEER_BIN=$TOXCORE_PEER
        return
    fi
    # shellcheck disable=SC2046  # pkg-config output is a list of flags
    cc -std=c11 -O2 -Wall -Wextra -o "$TW_TMP/toxcore_peer" "$TW_LIB_DIR/toxcore_peer.c" \
        $(pkg-config --cflags --libs toxcore) || tw_die "cannot build toxcore_peer"
    TW_PEER_BIN=$TW_TMP/toxcore_peer
}

# tw_fifo_start NAME WHAT BIN [ARGS...]: starts BIN with its stdin a FIFO
# we hold open read-write (so it never sees EOF and opening never blocks),
# waits for its "ready TOXID DHTKEY PORT" line and sets TW_TOXID[NAME],
# TW_KEY[NAME] (DHT key) and TW_PORT[NAME]. Commands go in with
# tw_peer_send. WHAT names the program in errors.
tw_fifo_start() {
    local name=$1 what=$2 bin=$3; shift 3
    local fifo fd line
    [ -z "${TW_PID[$name]+x}" ] || tw_die "tw_fifo_start: name '$name' already used"
    fifo=$TW_TMP/$name.in
    rm -f "$fifo"
    mkfifo "$fifo"
    exec {fd}<>"$fifo"
    TW_FD[$name]=$fd
    "$bin" "$@" <"$fifo" >"$(tw_log "$name")" 2>&1 &
    TW_PID[$name]=$!
    TW_NAMES+=("$name")
    line=$(wait_for_line "$(tw_log "$name")" '^ready ' 10) || tw_die "$what '$name' did not start"
    local id dht port
    read -r _ id dht port <<<"$line"
    TW_TOXID[$name]=$id
    TW_KEY[$name]=$dht
    TW_PORT[$name]=$port
}

# tw_peer_start NAME [toxcore_peer options...]: a c-toxcore client.
tw_peer_start() {
    tw_peer_bin
    tw_fifo_start "$1" toxcore_peer "$TW_PEER_BIN" "${@:2}"
}

# tw_node_start NAME [toxwire node options...]: a toxwire node with
# friends (same line protocol for starting and sending commands).
tw_node_start() {
    tw_fifo_start "$1" "toxwire node" "$TW_TOXWIRE_BIN" node "${@:2}"
}

# tw_forget NAME: after tw_stop/tw_wait, frees NAME for a restart.
tw_forget() {
    local fd=${TW_FD[$1]:-}
    [ -n "$fd" ] && exec {fd}>&-
    unset "TW_PID[$1]" "TW_FD[$1]"
}

# tw_peer_send NAME COMMAND-LINE: write one command to the peer's stdin.
tw_peer_send() {
    printf '%s\n' "$2" >&"${TW_FD[$1]}"
}

# Long-term public key (first 64 hex digits) of a Tox ID.
tw_toxid_pk() { printf '%s\n' "${1:0:64}"; }

# ---------------------------------------------------------------- connectivity

# What "connected" means for a c-toxcore peer in these tests.
#
# Every test runs on loopback only (127.0.0.1), so every DHT node a peer
# knows has a LAN-class address. c-toxcore 0.2.18 then reports
# `self_connection TCP` rather than UDP even though no TCP relay is
# configured and it talks to nobody over TCP: its UDP/TCP label depends on
# whether it knows DHT nodes at non-LAN addresses, while the online/offline
# decision itself comes from its onion client. Friend connections still
# come up as UDP. Going online at all (TCP or UDP) needs working onion
# paths, and with no TCP relay the only way to build those is through DHT
# nodes learned over UDP -- so "self_connection TCP|UDP" proves the DHT
# works for that peer, which is what these tests care about.
TW_CONNECTED_RE='^self_connection (TCP|UDP)$'

# tw_left DEADLINE_EPOCH: whole seconds until DEADLINE (at least 1), as a
# timeout for the next wait under a shared deadline.
tw_left() {
    local l=$(($1 - $(date +%s)))
    [ "$l" -lt 1 ] && l=1
    echo "$l"
}

# tw_wait_connected DEADLINE_EPOCH NAME...: one ok/not ok per peer, all
# against one shared deadline (peers bootstrap concurrently).
tw_wait_connected() {
    local deadline=$1 name line; shift
    for name in "$@"; do
        if line=$(wait_for_line "$(tw_log "$name")" "$TW_CONNECTED_RE" "$(tw_left "$deadline")"); then
            pass "$name connected (${line#self_connection })"
        else
            fail "$name connected (self_connection TCP|UDP)"
        fi
    done
}

# tw_wait_until TIMEOUT_SECONDS CMD [ARGS...]: run CMD every 0.2 s until it
# succeeds (returns 0) or the timeout passes (returns 1). CMD's output is
# discarded.
tw_wait_until() {
    local timeout=$1 deadline; shift
    deadline=$(awk -v t="$timeout" -v n="$(date +%s.%N)" 'BEGIN { printf "%.3f", n + t }')
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        awk -v d="$deadline" -v n="$(date +%s.%N)" 'BEGIN { exit !(n >= d) }' && return 1
        sleep 0.2
    done
}

# ---------------------------------------------------------------- toxwire

# Sets TW_TOXWIRE_BIN from $TOXWIRE (meson passes it); skips the test
# (exit 77) when it is not set or not executable.
tw_toxwire_bin() {
    [ -n "${TW_TOXWIRE_BIN:-}" ] && return
    if [ -z "${TOXWIRE:-}" ] || [ ! -x "$TOXWIRE" ]; then
        echo "1..0 # SKIP set TOXWIRE to the toxwire binary"
        exit 77
    fi
    TW_TOXWIRE_BIN=$TOXWIRE
}

# tw_toxwire_run NAME ARGS...: start `toxwire bootstrap ARGS...` in the
# background (log in $(tw_log NAME)), wait for its start-up line and set
# TW_KEY[NAME] and TW_PORT[NAME] from it. The caller passes every option;
# use tw_toxwire_start for the usual ones.
tw_toxwire_run() {
    local name=$1 line re; shift
    tw_toxwire_bin
    mkdir -p "$TW_TMP/$name"
    tw_start "$name" "$TW_TOXWIRE_BIN" bootstrap "$@"
    re='bootstrap node: public key [0-9A-F]{64}, UDP port [0-9]+'
    line=$(wait_for_line "$(tw_log "$name")" "$re" 10) || tw_die "toxwire '$name' did not start"
    [[ $line =~ public\ key\ ([0-9A-F]{64}),\ UDP\ port\ ([0-9]+) ]] || tw_die "toxwire '$name': odd start line: $line"
    TW_KEY[$name]=${BASH_REMATCH[1]}
    TW_PORT[$name]=${BASH_REMATCH[2]}
}

# tw_toxwire_start NAME PORT [MORE ARGS...]: toxwire bootstrap on UDP PORT
# (IPv4 only), keys in $TW_TMP/NAME/keys, status file rewritten every
# second at $(tw_status NAME). TW_TOXWIRE_LOG_LEVEL (default info) sets
# --log-level.
tw_toxwire_start() {
    local name=$1 port=$2; shift 2
    tw_toxwire_run "$name" --keys "$TW_TMP/$name/keys" --port "$port" --ipv4-only \
        --status-interval 1 --status-file "$(tw_status "$name")" \
        --log-level "${TW_TOXWIRE_LOG_LEVEL:-info}" "$@"
}

tw_status() { printf '%s/%s/status' "$TW_TMP" "$1"; }

# tw_status_value NAME FIELD: value of a `FIELD N` line in the status file
# (empty if absent).
tw_status_value() {
    awk -v f="$2" '$1 == f { print $2; exit }' "$(tw_status "$1")" 2>/dev/null
}

# tw_status_has_nodes NAME KEY...: true when every KEY is on a `node` line
# of NAME's status file (i.e. is a good node in its close list).
tw_status_has_nodes() {
    local name=$1 k; shift
    local f; f=$(tw_status "$name")
    [ -f "$f" ] || return 1
    for k in "$@"; do
        grep -q "^node $k " "$f" || return 1
    done
}

# tw_status_count_nodes NAME KEY...: how many of KEY... are listed.
tw_status_count_nodes() {
    local name=$1 k n=0; shift
    for k in "$@"; do
        tw_status_has_nodes "$name" "$k" && n=$((n + 1))
    done
    echo "$n"
}

# tw_status_ge NAME FIELD MIN: FIELD's value is at least MIN.
tw_status_ge() {
    local v; v=$(tw_status_value "$1" "$2")
    [ -n "$v" ] && [ "$v" -ge "$3" ]
}

# tw_status_dump NAME: the status file as TAP comments (for diagnostics).
tw_status_dump() {
    tw_note "--- status file of $1:"
    sed 's/^/#   /' "$(tw_status "$1")" 2>/dev/null
}

# ---------------------------------------------------------------- raw UDP

# tw_bootstrap_info HOST PORT: send a Bootstrap Info request (78 bytes,
# first 0xf0, rest zero) and print the answer as `version N`,
# `motd TEXT` (trailing NULs stripped) and `motd_bytes N` (raw length,
# NULs included) lines; retries 3 times, 1 s apart; non-zero without answer.
tw_bootstrap_info() {
    python3 - "$1" "$2" <<'PY'
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
req = b"\xf0" + bytes(77)
for _ in range(3):
    s.sendto(req, (host, port))
    try:
        data, _ = s.recvfrom(2048)
    except socket.timeout:
        continue
    if len(data) < 5 or data[0] != 0xF0:
        print("bad answer %s" % data.hex())
        sys.exit(2)
    print("version %d" % struct.unpack(">I", data[1:5])[0])
    # The MOTD may or may not carry a trailing NUL (tox-bootstrapd sends one).
    print("motd %s" % data[5:].rstrip(b"\0").decode("utf-8", "replace"))
    print("motd_bytes %d" % (len(data) - 5))
    sys.exit(0)
print("no answer from %s:%d" % (host, port))
sys.exit(1)
PY
}

# tw_udp_hold NAME PORT: keep UDP PORT on 0.0.0.0 bound by a background
# python3 until the test ends.
tw_udp_hold() {
    tw_start "$1" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("bound", flush=True)
time.sleep(600)' "$2"
    wait_for_line "$(tw_log "$1")" '^bound$' 5 >/dev/null || tw_die "cannot bind UDP $2"
}

# ---------------------------------------------------------------- friends

# tw_befriend A B [BUDGET_SECONDS]: A adds B by Tox ID (as friend 0 of A),
# B accepts (as its friend 0); checks that B gets the request and both see
# each other connected over UDP. The request and the connection share one
# deadline, BUDGET_SECONDS from now (default 30). Assumes neither has
# friends yet.
tw_befriend() {
    local a=$1 b=$2 budget=${3:-30} apk bpk deadline
    deadline=$(($(date +%s) + budget))
    apk=$(tw_toxid_pk "${TW_TOXID[$a]}")
    bpk=$(tw_toxid_pk "${TW_TOXID[$b]}")
    tw_peer_send "$a" "add ${TW_TOXID[$b]} hello from $a"
    check "$a friend_added 0 $b" wait_for_line "$(tw_log "$a")" "^friend_added 0 $bpk\$" 5
    tcheck "$b got friend_request from $a with message" \
        wait_for_line "$(tw_log "$b")" "^friend_request $apk hello from $a\$" "$(tw_left "$deadline")"
    tw_peer_send "$b" "accept $apk"
    check "$b friend_added 0 $a" wait_for_line "$(tw_log "$b")" "^friend_added 0 $apk\$" 5
    tcheck "$a sees friend 0 connected over UDP" \
        wait_for_line "$(tw_log "$a")" '^friend_connection 0 UDP$' "$(tw_left "$deadline")"
    tcheck "$b sees friend 0 connected over UDP" \
        wait_for_line "$(tw_log "$b")" '^friend_connection 0 UDP$' "$(tw_left "$deadline")"
}

# tw_send_and_confirm FROM TO TYPE TEXT_SENT TEXT_SEEN: send over friend 0,
# expect TO to print TEXT_SEEN and FROM to get the read receipt.
tw_send_and_confirm() {
    local from=$1 to=$2 type=$3 sent=$4 seen=$5 line id cmd=msg
    [ "$type" = action ] && cmd=action
    local mark_from mark_to
    mark_from=$(tw_mark "$(tw_log "$from")")
    mark_to=$(tw_mark "$(tw_log "$to")")
    tw_peer_send "$from" "$cmd 0 $sent"
    line=$(wait_for_line_from "$(tw_log "$from")" "$mark_from" '^(sent|error) ' 5)
    if ! [[ $line =~ ^sent\ 0\ ([0-9]+)$ ]]; then
        fail "$from sends $type message" "$line"
        return
    fi
    id=${BASH_REMATCH[1]}
    pass "$from sends $type message (id $id)"
    # Match TEXT_SEEN literally: backslash-escape every ERE metacharacter.
    local re
    # shellcheck disable=SC2016  # sed script, not a shell expansion
    re="^friend_message 0 $type $(printf '%s' "$seen" | sed 's/[][\.*^$(){}?+|/]/\\&/g')\$"
    check "$to receives it" wait_for_line_from "$(tw_log "$to")" "$mark_to" "$re" 10
    check "$from gets read receipt $id" \
        wait_for_line_from "$(tw_log "$from")" "$mark_from" "^read_receipt 0 $id\$" 10
}


# ---------------------------------------------------------------- log checks

# tw_log_clean NAME: NAME's log has no error-level line and no sanitizer
# report (toxwire is often built with ASan/UBSan for these tests).
tw_log_clean() {
    ! grep -E -e ' (error|ERROR) ' -e 'AddressSanitizer|LeakSanitizer|runtime error:' "$(tw_log "$1")" >&2
}

# tw_udp_probe HOST PORT HEX_PAYLOAD [WAIT_SECONDS]: send one datagram and
# print `answer HEX` for the first reply, or `no answer` after WAIT_SECONDS
# (default 1). Always returns 0 (the output says what happened).
tw_udp_probe() {
    python3 - "$1" "$2" "$3" "${4:-1}" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[4]))
s.sendto(bytes.fromhex(sys.argv[3]), (sys.argv[1], int(sys.argv[2])))
try:
    print("answer %s" % s.recvfrom(4096)[0].hex())
except socket.timeout:
    print("no answer")
PY
}
