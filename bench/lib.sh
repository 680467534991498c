# bench/lib.sh: the mechanics behind bench/run, which sources it: ports, starting and stopping
# the proxies, statistics. bench/run sets root, tmp, pids, PEERS, PROXY_CPU, PEER_CPU, WSGATE,
# WSBENCH, echo_port and tcp_port before calling these.
# shellcheck shell=bash disable=SC2154

# A port on 127.0.0.1 that nobody listens on right now.
free_port() {
  perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1",
    LocalPort => 0, Listen => 1, ReuseAddr => 1)->sockport'
}

# Waits up to 5 s for something to listen on 127.0.0.1:$1; gives up early if process $2 exits.
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    [ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench: nothing listens on port $1" >&2
  return 1
}

# Stops process $1 (TERM, so that nginx's master takes its worker along), reaps it and forgets it.
stop_pid() {
  local p=$1 q keep=()
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for q in "${pids[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
  pids=("${keep[@]}")
}

# The median of the numbers in file $1, or nothing if it has none.
median() {
  [ -s "$1" ] || return 0
  sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The value of KEY=VALUE $1 in the line $2.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# Starts wsgate on port $1 with the routes in $2, on the CPUs in $3 (proxy or peer); with $4, a
# TLS listener with the bench certificate $4.pem and key $4.key (make_pki). Sets $started (the
# pid to stop) and $measured (the pid whose CPU and RSS count): the same here.
start_wsgate() {
  local port=$1 routes=$2 cpu=$3 cert=${4:-} conf=$tmp/wsgate-$1.ini tls=''
  [ -z "$cert" ] || tls=$(printf ' tls\ntls_cert = %s.pem\ntls_key = %s.key' "$cert" "$cert")
  # max_connections fits the descriptors bench/run has; it only silences a warning.
  printf '[server]\nlisten = 127.0.0.1:%s%s\nworkers = 1\nlog_level = warn\naccess_log = off\nmax_connections = 5000\n%s\n' \
    "$port" "$tls" "$routes" >"$conf"
  if [ "$cpu" = proxy ]; then
    "${PROXY_CPU[@]}" "$WSGATE" -c "$conf" 2>>"$tmp/wsgate-$port.log" &
  else
    "${PEER_CPU[@]}" "$WSGATE" -c "$conf" 2>>"$tmp/wsgate-$port.log" &
  fi
  started=$!
  measured=$started
  pids+=("$started")
  wait_port "$port" "$started" || { cat "$tmp/wsgate-$port.log" >&2; return 1; }
}

# The shared/peers template of peer $1.
peer_template() {
  case $1 in
    nginx) echo nginx.conf.in ;;
    nginx-buf64k) echo nginx-buf64k.conf.in ;;
    haproxy) echo haproxy.cfg.in ;;
    lighttpd-proxy) echo lighttpd-proxy.conf.in ;;
    lighttpd-wstunnel) echo lighttpd-wstunnel.conf.in ;;
  esac
}

# The program that runs peer $1.
peer_program() {
  case $1 in
    nginx*) echo nginx ;;
    haproxy) echo haproxy ;;
    lighttpd*) echo lighttpd ;;
  esac
}

# Why peer $1 cannot run here, or nothing if it can.
peer_missing() {
  local prog
  prog=$(peer_program "$1")
  [ -n "$prog" ] || { echo "unknown proxy (see BENCH_PROXIES in bench/run)"; return; }
  [ -r "$PEERS/$(peer_template "$1")" ] || { echo "no $PEERS/$(peer_template "$1")"; return; }
  command -v "$prog" >/dev/null || echo "$prog is not installed (tools/install-deps --bench)"
}

# Starts peer $1 on port $2 in front of the echo backend on port $3, from its shared/peers
# template, in the foreground with one worker as shared/peers/README.md says; with $4, its
# listener speaks TLS with the bench certificate $4 (tls_listener). Sets $started (the pid to
# stop) and $measured (the pid whose CPU and RSS count: nginx's worker, not its master, which
# only waits).
start_peer() {
  local name=$1 port=$2 backend=$3 cert=${4:-} dir=$tmp/$1-$2 tpl conf
  tpl=$(peer_template "$name")
  conf=$dir/${tpl%.in}
  mkdir -p "$dir/www" "$dir/tmp"
  sed -e "s|@LISTEN_PORT@|$port|g; s|@BACKEND_PORT@|$backend|g; s|@RUNDIR@|$dir|g" \
    "$PEERS/$tpl" >"$conf"
  [ -z "$cert" ] || tls_listener "$name" "$port" "$cert" "$conf" || return 1
  case $name in
    nginx*) "${PROXY_CPU[@]}" nginx -p "$dir/" -e "$dir/nginx-error.log" -c "$conf" \
      >>"$dir/stderr" 2>&1 & ;;
    haproxy) "${PROXY_CPU[@]}" haproxy -db -f "$conf" >>"$dir/stderr" 2>&1 & ;;
    lighttpd*) "${PROXY_CPU[@]}" lighttpd -D -f "$conf" >>"$dir/stderr" 2>&1 & ;;
  esac
  started=$!
  measured=$started
  pids+=("$started")
  if ! wait_port "$port" "$started"; then
    tail -n 5 "$dir"/*.log "$dir/stderr" >&2 2>/dev/null || true
    return 1
  fi
  if [[ $name == nginx* ]]; then
    # The master listens before it forks the worker.
    measured=
    for _ in $(seq 100); do
      measured=$(pgrep -P "$started" | head -n 1) && [ -n "$measured" ] && break
      sleep 0.05
    done
    [ -n "$measured" ] || { echo "bench: nginx started no worker" >&2; return 1; }
  fi
}

# Starts proxy $1 on port $2 pinned to the proxy CPU: wsgate with a WS->WS and a WS->TCP route,
# the floor relay in front of the WS echo, a peer in front of the backend its route needs; with $3 (a make_pki certificate), a TLS
# listener with that certificate instead. Sets $started and $measured.
start_proxy() {
  local name=$1 port=$2 cert=${3:-}
  if [ "$name" = floor ]; then
    "${PROXY_CPU[@]}" "$FLOOR" -p "$port" -b "$echo_port" &
    started=$!
    measured=$started
    pids+=("$started")
    wait_port "$port" "$started"
  elif [ "$name" = wsgate ]; then
    start_wsgate "$port" "$(printf '[route ws]\npath = %s\nbackend = ws://127.0.0.1:%s/echo\n[route tcp]\npath = %s\nbackend = tcp://127.0.0.1:%s' \
      "${WS_PATH[wsgate]}" "$echo_port" "${TCP_PATH[wsgate]}" "$tcp_port")" proxy "$cert"
  elif [ -n "${WS_PATH[$name]:-}" ]; then
    start_peer "$name" "$port" "$echo_port" "$cert"
  else
    start_peer "$name" "$port" "$tcp_port"
  fi
}

# The version line of proxy $1, for the results.
proxy_version() {
  case $1 in
    # The source wsgate was built from, not the bench scripts around it.
    wsgate)
      local src
      src=$(git -C "$root" log -1 --format=%h -- src 2>/dev/null) || src='(no git)'
      git -C "$root" diff --quiet HEAD -- src 2>/dev/null || src="$src with uncommitted changes"
      echo "wsgate src/ at $src"
      ;;
    floor) echo 'bench/floor (bare epoll relay)' ;;
    nginx*) nginx -v 2>&1 | sed 's|.*nginx/|nginx |' ;;
    haproxy) haproxy -v 2>&1 | sed -n '1s/ version \([^ ]*\).*/ \1/p' ;;
    lighttpd*) lighttpd -v 2>&1 | sed -n '1s|^lighttpd/\([^ ]*\).*|lighttpd \1|p' ;;
  esac
}

# ---- TLS ----

# A throwaway PKI in directory $1 made with the openssl CLI: a CA, and for 127.0.0.1 and
# localhost an ECDSA P-256 (ec.pem, ec.key) and an RSA-2048 (rsa.pem, rsa.key) server
# certificate; ec.all and rsa.all hold certificate and key together, the way HAProxy wants them.
make_pki() {
  local d=$1 k
  mkdir -p "$d"
  printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\n' >"$d/san.ext"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj '/CN=wsgate bench CA' -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  for k in ec rsa; do
    if [ "$k" = ec ]; then
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$k.key"
    else
      openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/$k.key"
    fi 2>/dev/null
    openssl req -new -key "$d/$k.key" -subj /CN=localhost -out "$d/$k.csr"
    openssl x509 -req -in "$d/$k.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
      -days 2 -extfile "$d/san.ext" -out "$d/$k.pem" 2>/dev/null
    cat "$d/$k.pem" "$d/$k.key" >"$d/$k.all"
  done
}

# Rewrites the rendered config $4 of peer $1 so that its listener on port $2 speaks TLS with
# the certificate $3 (make_pki, without suffix): nginx "listen ... ssl" with ssl_certificate,
# HAProxy "bind ... ssl crt". Protocols TLS 1.2 and 1.3 as wsgate offers by default; ciphers
# and groups stay each program's defaults (the client offers TLS 1.3 and X25519 only). Fails,
# saying so, if the template no longer has the line to change.
tls_listener() {
  local name=$1 port=$2 cert=$3 conf=$4
  case $name in
    nginx*)
      sed -i -e "/^ *listen 127\.0\.0\.1:${port}[ ;]/{s/;\$/ ssl;/" \
        -e "a\        ssl_certificate $cert.pem; ssl_certificate_key $cert.key;" \
        -e "a\        ssl_protocols TLSv1.2 TLSv1.3;" -e "}" "$conf"
      grep -q "listen 127\.0\.0\.1:$port.* ssl;" "$conf" ;;
    haproxy)
      sed -i -e "s|^\( *bind 127\.0\.0\.1:$port\)\( .*\)\?\$|\1\2 ssl crt $cert.all ssl-min-ver TLSv1.2|" \
        "$conf"
      grep -q "bind 127\.0\.0\.1:$port.* ssl crt" "$conf" ;;
    *) false ;;
  esac || { echo "bench: cannot make $name's listener TLS: $conf has no listen line for it" >&2; return 1; }
}
