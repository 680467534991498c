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
  echo "## Proxy CPU per echoed message, µs (lower is better)"
  echo
  echo "utime+stime of the proxy process over the measured window ÷ round trips. The ratio is" \
    "wsgate's median ÷ the best peer's (for WS→TCP the only peer is mod_wstunnel)."
  echo
  row "${hdr[@]}" 'wsgate ÷ best peer' target met
  row "${align[@]}" --: --: ---
  for s in "${scenarios[@]}"; do
    IFS='|' read -r id sname route _ _ target <<<"$s"
    cells=("$id: $sname") best='' best_name=''
    for name in "${running[@]}"; do
      cpu=$(median "$tmp/cpu-$id-$name")
      if [ -z "$(path_of "$name" "$route")" ]; then cells+=('n/a'); else cells+=("$(num1 "$cpu")"); fi
      if [ "$name" = wsgate ] || [ -z "$cpu" ]; then continue; fi
      if [ -z "$best" ] || awk -v a="$cpu" -v b="$best" 'BEGIN { exit !(a < b) }'; then
        best=$cpu best_name=${LABEL[$name]}
      fi
    done
    ratio=''
    cpu=$(median "$tmp/cpu-$id-wsgate")
    [ -z "$best" ] || [ -z "$cpu" ] || ratio=$(awk -v a="$cpu" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
    row "${cells[@]}" "${ratio:-—}${ratio:+ (vs $best_name)}" "≤ $target" "$(meets "$ratio" "$target")"
  done
  echo

  echo "## Echoed messages per second"
  echo
  echo "On two cores the load generator usually saturates first, so this does not rank the proxies."
  echo
  row "${hdr[@]}"
  row "${align[@]}"
  for s in "${scenarios[@]}"; do
    IFS='|' read -r id sname route _ _ _ <<<"$s"
    cells=("$id: $sname")
    for name in "${running[@]}"; do
      p=$(median "$tmp/rate-$id-$name")
      if [ -z "$(path_of "$name" "$route")" ]; then cells+=('n/a'); elif [ -n "$p" ]; then
        cells+=("$(printf '%.0f' "$p")")
      else cells+=('—'); fi
    done
    row "${cells[@]}"
  done
  echo

  echo "## RSS per idle proxied connection, KiB"
  echo
  printf '%s connections, each with its client and backend socket, on a fresh proxy' "$IDLE"
  if [ "$IDLE_ECHO" -gt 0 ]; then
    printf '; each echoes one %s B message first, so that buffers kept after traffic count' "$IDLE_ECHO"
  else
    printf '; handshaken only, no message sent (BENCH_IDLE_ECHO=0)'
  fi
  echo ". (VmRSS after − before) ÷ connections, after a 0.5 s pause."
  echo
  row proxy route 'KiB per connection' 'VmRSS before → after, KiB' target met
  row --- --- --: --: --: ---
  for s in "${idle[@]}"; do
    IFS='|' read -r name route out <<<"$s"
    p=$(field kib_per_conn "$out")
    if [ "$name" = wsgate ]; then target="≤ $IDLE_TARGET" met=$(meets "$p" "$IDLE_TARGET"); else
      target='' met=''
    fi
    row "${LABEL[$name]}" "$([ "$route" = ws ] && echo WS→WS || echo WS→TCP)" "$(num1 "$p")" \
      "$(field rss0_kib "$out") → $(field rss1_kib "$out")" "$target" "$met"
  done
  if [ "${#left_out[@]}" -gt 0 ]; then
    echo
    echo "## Runs that gave no figure"
    echo
    for s in "${left_out[@]}"; do echo "- $s"; done
  fi
}
