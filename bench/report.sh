# bench/report.sh: the results of bench/run as markdown, sourced by it once the runs are over.
# Reads bench/run's variables: scenarios, running, LABEL, idle, tmp and the settings.
# shellcheck shell=bash disable=SC2154

# $1 with one decimal, or — if empty.
num1() { if [ -n "$1" ]; then printf '%.1f' "$1"; else printf '—'; fi; }

# "yes" if $1 <= $2, else "no"; — if $1 is empty.
meets() {
  if [ -z "$1" ]; then printf '—'; else awk -v a="$1" -v b="$2" 'BEGIN { printf (a <= b) ? "yes" : "no" }'; fi
}

# One markdown table row from its cells.
row() {
  local out='|' c
  for c in "$@"; do out+=" $c |"; done
  echo "$out"
}

# Whether route $1 is an echo route (its rows count messages), not TLS handshakes.
echo_route() { [[ $1 == ws || $1 == tcp || $1 == wss ]]; }

# The median CPU of the best peer in scenario $1 (an id) and its label, "CPU|LABEL"; nothing if
# no peer has a figure.
best_peer() {
  local name cpu best='' best_name=''
  for name in "${running[@]}"; do
    [ "$name" != wsgate ] && [ "$name" != floor ] || continue
    cpu=$(median "$tmp/cpu-$1-$name")
    [ -n "$cpu" ] || continue
    if [ -z "$best" ] || awk -v a="$cpu" -v b="$best" 'BEGIN { exit !(a < b) }'; then
      best=$cpu best_name=${LABEL[$name]}
    fi
  done
  [ -z "$best" ] || echo "$best|$best_name"
}

# The table row of scenario $1 from the medians in $tmp/cpu-ID-NAME: each proxy's figure, and
# wsgate's ÷ the best peer's against the target. $2 optional: the file prefix of a note shown
# beside each figure in parentheses ("resumed": the % of handshakes resumed).
ratio_row() {
  local id sname route target cells cpu best='' best_name='' ratio='' name note
  IFS='|' read -r id sname route _ _ target <<<"$1"
  cells=("$id: $sname")
  for name in "${running[@]}"; do
    cpu=$(median "$tmp/cpu-$id-$name")
    if [ -z "$(path_of "$name" "$route")" ]; then cells+=('n/a'); else
      note=''
      [ -z "${2:-}" ] || note=$(median "$tmp/$2-$id-$name")
      cells+=("$(num1 "$cpu")${note:+ ($(printf '%.0f' "$note")% $2)}")
    fi
  done
  IFS='|' read -r best best_name <<<"$(best_peer "$id")"
  cpu=$(median "$tmp/cpu-$id-wsgate")
  [ -z "$best" ] || [ -z "$cpu" ] || ratio=$(awk -v a="$cpu" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
  row "${cells[@]}" "${ratio:-—}${ratio:+ (vs $best_name)}" "≤ $target" "$(meets "$ratio" "$target")"
}

# The section on the floor relay: what the least possible CPU per message is beside the best
# peer, and how far wsgate is above it. Nothing if the floor did not run.
floor_report() {
  local s id sname route fl wg best best_name rows=()
  for s in "${scenarios[@]}"; do
    IFS='|' read -r id sname route _ <<<"$s"
    [ "$route" = ws ] || continue
    fl=$(median "$tmp/cpu-$id-floor")
    wg=$(median "$tmp/cpu-$id-wsgate")
    IFS='|' read -r best best_name <<<"$(best_peer "$id")"
    [ -n "$fl" ] && [ -n "$best" ] || continue
    rows+=("$(row "$id: $sname" "$(num1 "$fl")" "$(num1 "$best") ($best_name)" \
      "$(awk -v a="$fl" -v b="$best" 'BEGIN { printf "%.2f", a / b }')" \
      "${wg:+$(awk -v a="$wg" -v b="$fl" 'BEGIN { printf "%.2f", a / b }')}")")
  done
  [ "${#rows[@]}" -gt 0 ] || return 0
  echo "## The floor: a bare relay"
  echo
  echo "bench/floor relays bytes between each client and its backend connection with one recv" \
    "and one send per hop and nothing else: no parsing, no buffering, no timers. It is the" \
    "least CPU per message that a proxy built on readiness events (epoll) and one system call" \
    "per read and per write spends on this kernel, where TCP over loopback is most of the cost." \
    "floor ÷ best peer is the lowest ratio any such proxy can reach; a target below it asks for" \
    "fewer system calls per message than one read and one write per hop (batching, io_uring)." \
    "A WS→TCP proxy makes the same system calls per message, so the WS→WS floors bound c and d too."
  echo
  row scenario 'floor µs' 'best peer µs' 'floor ÷ best peer' 'wsgate ÷ floor'
  row --- --: --: --: --:
  printf '%s\n' "${rows[@]}"
  echo
}

# The table row of scenario $1 with each proxy's median rate from $tmp/rate-ID-NAME.
rate_row() {
  local id sname route cells name p
  IFS='|' read -r id sname route _ _ _ <<<"$1"
  cells=("$id: $sname")
  for name in "${running[@]}"; do
    p=$(median "$tmp/rate-$id-$name")
    if [ -z "$(path_of "$name" "$route")" ]; then cells+=('n/a'); elif [ -n "$p" ]; then
      cells+=("$(printf '%.0f' "$p")")
    else cells+=('—'); fi
  done
  row "${cells[@]}"
}

# Whether any selected scenario has an echo route ($1 echo) or is a handshake row ($1 tls).
any_row() {
  local s route
  for s in "${scenarios[@]}"; do
    IFS='|' read -r _ _ route _ <<<"$s"
    if echo_route "$route"; then [ "$1" = echo ] && return 0; else [ "$1" = tls ] && return 0; fi
  done
  return 1
}

# How the idle connections were used before the RSS reading, as the rest of a sentence.
idle_echo_words() {
  if [ "$IDLE_ECHO" -gt 0 ]; then
    printf '; each echoes one %s B message first, so that buffers kept after traffic count' "$IDLE_ECHO"
  else
    printf '; handshaken only, no message sent (BENCH_IDLE_ECHO=0)'
  fi
}

report() {
  local s id sname name route target met cells cpu best best_name ratio hdr align model os p out
  model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  os=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")
  echo "# make bench: wsgate beside its peers"
  echo
  echo "- Date: $started_at"
  echo "- Machine: nproc $(nproc) (${model:-CPU model unknown}), Linux $(uname -r)${os:+, $os}"
  echo "- Settings: BENCH_RUNS=$RUNS runs of every scenario and proxy, in alternating order;" \
    "BENCH_SECONDS=$SECONDS_ s measured after BENCH_WARMUP=$WARMUP s of warm-up each; medians." \
    "Pinning: $pinning; one worker per proxy. Load average at the start $loadavg, at the end" \
    "$(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the numbers)."
  echo "- Every client connection keeps one binary message in flight. WS→WS backend: a wsgate" \
    "echo route; WS→TCP backend: wsbench's TCP echo. Peers run from the shared/peers templates."
  printf -- '- Versions:'
  for name in "${running[@]}"; do proxy_version "$name"; done | awk '!seen[$0]++' |
    paste -sd ';' | sed 's/;/; /g; s/^/ /'

  echo

  hdr=(scenario) align=(---)
  for name in "${running[@]}"; do hdr+=("${LABEL[$name]}") align+=(--:); done
  if any_row echo; then
    echo "## Proxy CPU per echoed message, µs (lower is better)"
    echo
    echo "utime+stime of the proxy process over the measured window ÷ round trips. The ratio is" \
      "wsgate's median ÷ the best peer's (for WS→TCP the only peer is mod_wstunnel)."
    echo
    row "${hdr[@]}" 'wsgate ÷ best peer' target met
    row "${align[@]}" --: --: ---
    for s in "${scenarios[@]}"; do
      IFS='|' read -r _ _ route _ <<<"$s"
      ! echo_route "$route" || ratio_row "$s"
    done
    echo

    echo "## Echoed messages per second"
    echo
    echo "On two cores the load generator usually saturates first, so this does not rank the proxies."
    echo
    row "${hdr[@]}"
    row "${align[@]}"
    for s in "${scenarios[@]}"; do
      IFS='|' read -r _ _ route _ <<<"$s"
      ! echo_route "$route" || rate_row "$s"
    done
    echo
    floor_report
  fi
  tls_report

  if wanted idle; then
    echo "## RSS per idle proxied connection, KiB"
    echo
    printf '%s connections, each with its client and backend socket, on a fresh proxy' "$IDLE"
    idle_echo_words
    echo ". (VmRSS after − before) ÷ connections, after a 0.5 s pause."
    echo
    row proxy route 'KiB per connection' 'VmRSS before → after, KiB' target met
    row --- --- --: --: --: ---
    for s in "${idle[@]}"; do
      IFS='|' read -r name route out <<<"$s"
      [ "$route" != wss ] || continue
      p=$(field kib_per_conn "$out")
      if [ "$name" = wsgate ]; then target="≤ $IDLE_TARGET" met=$(meets "$p" "$IDLE_TARGET"); else
        target='' met=''
      fi
      row "${LABEL[$name]}" "$([ "$route" = ws ] && echo WS→WS || echo WS→TCP)" "$(num1 "$p")" \
        "$(field rss0_kib "$out") → $(field rss1_kib "$out")" "$target" "$met"
    done
    echo
  fi
  tls_idle_report
  if [ "${#left_out[@]}" -gt 0 ]; then
    echo "## Runs that gave no figure"
    echo
    for s in "${left_out[@]}"; do echo "- $s"; done
  fi
}

# The TLS handshake tables and what TLS negotiated with each proxy.
tls_report() {
  local s route hdr=(scenario) align=(---) name cert f info distinct
  for name in "${running[@]}"; do hdr+=("${LABEL[$name]}") align+=(--:); done
  if any_row tls; then
    echo "## Proxy CPU per TLS handshake, µs (lower is better)"
    echo
    echo "Each client opens a TCP connection, completes a TLS 1.3 handshake, sends close_notify" \
      "and waits for the proxy to close, then starts over; no HTTP request is sent, so this is" \
      "the TLS cost alone (accept, key exchange, signature, session tickets, close), the same for" \
      "every proxy. Full handshakes (the client offers no session) except in row j, where each" \
      "connection offers a copy of the newest ticket a server handed out (the share resumed is" \
      "in parentheses; a server may or may not send a fresh ticket on a resumed connection, which" \
      "wsbench's progress lines count as tickets=). utime+stime of the proxy over the measured" \
      "window ÷ handshakes."
    echo
    row "${hdr[@]}" 'wsgate ÷ best peer' target met
    row "${align[@]}" --: --: ---
    for s in "${scenarios[@]}"; do
      IFS='|' read -r _ _ route _ <<<"$s"
      if [ "$route" = hs-ec-resumed ]; then ratio_row "$s" resumed; elif ! echo_route "$route"; then
        ratio_row "$s"
      fi
    done
    echo
    echo "## TLS handshakes per second"
    echo
    echo "Bounded by the load generator on two cores as well; the CPU figures rank the proxies."
    echo
    row "${hdr[@]}"
    row "${align[@]}"
    for s in "${scenarios[@]}"; do
      IFS='|' read -r _ _ route _ <<<"$s"
      echo_route "$route" || rate_row "$s"
    done
    echo
  fi
  compgen -G "$tmp/tlsinfo-*" >/dev/null || return 0
  echo "## What TLS negotiated"
  echo
  echo "One handshake with each TLS listener before the runs. wsbench offers TLS 1.3 only, the" \
    "X25519 group only, ALPN http/1.1 and SNI localhost, and does not verify the certificate" \
    "(a throwaway bench CA made with the openssl CLI), in OpenSSL's order of TLS 1.3 suites" \
    "(AES-256-GCM first). The suite is each server's default choice: wsgate prefers AES-128-GCM" \
    "(tls_ciphersuites: Mozilla's intermediate order, and what browsers offer first), whose" \
    "SHA-256 key schedule costs a handshake less; nginx and HAProxy take OpenSSL's first." \
    "The servers offer TLS 1.2 and 1.3. The wss:// echo rows and the" \
    "idle TLS figure use the ECDSA certificate. Each server sends its default number of session" \
    "tickets after a full handshake: wsgate one (tls_tickets_per_handshake), nginx and HAProxy" \
    "OpenSSL's two; each ticket is an encryption, a key derivation and a write."
  echo
  row proxy certificate protocol 'cipher suite' group 'server key / signature hash' 'tickets per handshake'
  row --- --- --- --- --- --- --:
  for cert in "${certs[@]}"; do
    for name in "${running[@]}"; do
      f=$tmp/tlsinfo-$name-$cert
      [ -s "$f" ] || continue
      info=$(cat "$f")
      row "${LABEL[$name]}" "$([ "$cert" = ec ] && echo 'ECDSA P-256' || echo RSA-2048)" \
        "$(field tls "$info")" "$(field cipher "$info")" "$(field group "$info")" \
        "$(field cert "$info")" "$(field tickets_per_handshake "$info")"
    done
  done
  echo
  for cert in "${certs[@]}"; do
    distinct=$(for f in "$tmp"/tlsinfo-*-"$cert"; do
      [ -s "$f" ] && sed 's/ tickets_per_handshake=.*//' "$f"
    done | sort -u | wc -l)
    if [ "$distinct" -gt 1 ]; then
      echo "**With the $cert certificate the proxies did not all negotiate the same: the" \
        "comparison is not like for like.**"
      echo
    fi
  done
}

# The RSS per idle TLS connection, wsgate beside the peers.
tls_idle_report() {
  local s name route out p best='' best_name='' mine='' ratio='' cells=('i: wss:// WS→WS, idle') n o
  local rss=('VmRSS before → after, KiB') hdr=(figure) align=(---) any=''
  for s in "${idle[@]}"; do [[ $s != *"|wss|"* ]] || any=1; done
  [ -n "$any" ] || return 0
  for name in "${running[@]}"; do
    [ -n "$(path_of "$name" wss)" ] || continue
    hdr+=("${LABEL[$name]}") align+=(--:)
    p='' out=''
    for s in "${idle[@]}"; do
      IFS='|' read -r n route o <<<"$s"
      [ "$n" = "$name" ] && [ "$route" = wss ] && out=$o p=$(field kib_per_conn "$o")
    done
    cells+=("$(num1 "$p")")
    rss+=("${out:+$(field rss0_kib "$out") → $(field rss1_kib "$out")}")
    [ -n "$p" ] || continue
    if [ "$name" = wsgate ]; then mine=$p; elif [ -z "$best" ] ||
      awk -v a="$p" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$p best_name=${LABEL[$name]}; fi
  done
  [ -z "$best" ] || [ -z "$mine" ] || ratio=$(awk -v a="$mine" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
  echo "## RSS per idle TLS connection, KiB"
  echo
  printf '%s wss:// connections (ECDSA certificate), each with its client and backend socket, on a fresh proxy' "$IDLE"
  idle_echo_words
  echo ". (VmRSS after − before) ÷ connections, after a 0.5 s pause."
  echo
  row "${hdr[@]}" 'wsgate ÷ best peer' target met
  row "${align[@]}" --: --: ---
  row "${cells[@]}" "${ratio:-—}${ratio:+ (vs $best_name)}" "≤ $IDLE_TLS_TARGET" "$(meets "$ratio" "$IDLE_TLS_TARGET")"
  row "${rss[@]}" '' '' ''
  echo
}
