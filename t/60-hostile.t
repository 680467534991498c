# Hostile peers: slowloris, thousands of idle connections and sessions, abrupt resets from either
# side and header bombs; absurd frame lengths, descriptor exhaustion, max_connections and a
# flooding backend are in 61-hostile-limits.t. Every case checks that wsgate stays alive, keeps
# serving other clients (a fresh echo round trip), and stays within memory and CPU bounds. The
# numbers measured here (RSS per idle connection and session, peak RSS, CPU) are printed by diag.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);
# Only the fixture's long-standing helpers, by name, so that new exports cannot clash with the
# helpers of HostileTest.
use WsgateTest qw(
  wsgate start_server tcp_echo_server raw_connect raw_upgrade read_http_response
  client_frame read_frame read_until_close send_all rss_kib wait_for
);
use HostileTest;

$SIG{PIPE} = 'IGNORE';
my $T_START = time;

# ---- 1. slowloris: 1 byte every 0.5 s never completes a request; closed at handshake_timeout ----
{
  my $gw = wsgate(<<"INI", server => "handshake_timeout = 2s\n");
[route echo]
path = /echo
backend = echo
INI
  my $req = "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n" . ("X-Slow: 1\r\n" x 100);
  my $N = 20;
  my @c = map { raw_connect($gw->port) } 1 .. $N;
  my $t0 = time;
  my (%closed_at, %got408);
  my $sel = IO::Select->new(@c);
  my ($pos, $next_send, $other) = (0, $t0, undef);
  while (keys(%closed_at) < $N && time - $t0 < 6) {
    if (time >= $next_send) {
      for my $i (0 .. $#c) {
        next if $closed_at{$i};
        my $n = syswrite($c[$i], substr($req, $pos, 1));
        $closed_at{$i} = time - $t0 unless defined $n;    # reset by wsgate
      }
      $pos++;
      $next_send += 0.5;
    }
    if (!defined $other && time - $t0 > 1.0) {
      $other = echo_ok($gw->port) // -1;
    }
    my $wait = $next_send - time;
    for my $s ($sel->can_read($wait > 0 ? $wait : 0)) {
      my ($i) = grep { $c[$_] == $s } 0 .. $#c;
      my $n = sysread($s, my $data, 65536);
      $got408{$i} = 1 if $n && $data =~ m{^HTTP/1\.1 408 };
      if (!$n || $got408{$i}) {
        $closed_at{$i} //= time - $t0;
        $sel->remove($s);
      }
    }
  }
  my @t = sort { $a <=> $b } values %closed_at;
  diag(sprintf('slowloris: %d of %d clients closed, after %.2f..%.2f s; %d got 408; %d bytes sent each',
    scalar @t, $N, $t[0] // -1, $t[-1] // -1, scalar keys %got408, $pos));
  is(scalar @t, $N, 'slowloris: every 1-byte-per-0.5-s client is closed');
  ok(@t && $t[0] >= 1.5, 'slowloris: none is closed before handshake_timeout (2 s)');
  ok(@t && $t[-1] <= 3.0, 'slowloris: all are closed by 3 s (handshake_timeout = 2 s)');
  is(scalar keys %got408, $N, 'slowloris: each gets an HTTP 408 answer');
  ok($other && $other > 0 && $other < 1.0, 'slowloris: meanwhile a normal client completes handshake and echo in < 1 s')
    and diag(sprintf('slowloris: normal client round trip took %.3f s', $other));
  ok(echo_ok($gw->port), 'slowloris: afterwards a new client gets an echo');
  log_clean($gw, 'slowloris');
  stops_cleanly($gw, 'slowloris');
}

# ---- 2. 2,000 idle connections, then 2,000 idle open sessions: RSS per connection ----
SKIP: {
  my $N = 2000;
  my $open_max = POSIX::sysconf(POSIX::_SC_OPEN_MAX());
  skip "needs a descriptor limit of at least 4200 (ulimit -n is $open_max); raise ulimit -n", 1
    if $open_max < 4200;
  my $gw = wsgate(<<"INI", server => "handshake_timeout = 60s\n");
[route echo]
path = /echo
backend = echo
INI
  my $pid = $gw->pid;
  ok(echo_ok($gw->port), 'idle: warm-up echo works');
  sleep 0.2;
  my $fd0 = fd_count($pid);
  my $rss0 = rss($pid);

  my ($conns) = open_many($gw->port, $N);
  is(scalar @$conns, $N, "idle: $N TCP connections opened");
  ok(wait_for(15, sub { fd_count($pid) >= $fd0 + $N }), "idle: wsgate accepted all $N");
  sleep 0.3;
  my $rss1 = rss($pid);
  my $per_conn = ($rss1 - $rss0) / $N;
  diag(sprintf('idle connections: RSS %d KiB -> %d KiB with %d idle connections: %.2f KiB per connection',
    $rss0, $rss1, $N, $per_conn));
  within_bound($per_conn < 32, "idle: RSS per idle connection is bounded (< 32 KiB; got ${\ sprintf '%.2f', $per_conn })");
  ok(echo_ok($gw->port), "idle: with $N idle connections a new client still gets an echo");
  close $_ for @$conns;
  @$conns = ();
  ok(wait_for(15, sub { fd_count($pid) <= $fd0 + 5 }), 'idle: wsgate frees the idle connections once they close');
  ok(echo_ok($gw->port), 'idle: after they close a new client gets an echo');
  log_clean($gw, 'idle connections');
  stops_cleanly($gw, 'idle connections');

  # Open WebSocket sessions that then say nothing, on a fresh wsgate so that the heap freed by
  # the idle connections does not hide their cost; twice, to see that memory is reused.
  $gw = wsgate(<<"INI", server => "handshake_timeout = 60s\n");
[route echo]
path = /echo
backend = echo
INI
  $pid = $gw->pid;
  ok(echo_ok($gw->port), 'idle sessions: warm-up echo works');
  sleep 0.2;
  $fd0 = fd_count($pid);
  my $rss_base = rss($pid);

  my (@peak, @after);
  for my $round (1, 2) {
    my ($socks, $ok) = open_many($gw->port, $N, '/echo');
    is($ok, $N, "idle sessions round $round: all $N handshakes get 101");
    ok(wait_for(15, sub { fd_count($pid) >= $fd0 + $N }), "idle sessions round $round: wsgate holds all $N");
    sleep 0.3;
    my $rss = rss($pid);
    push @peak, $rss;
    my $per = ($rss - $rss_base) / $N;
    diag(sprintf('idle sessions round %d: RSS %d KiB -> %d KiB with %d open sessions: %.2f KiB per session',
      $round, $rss_base, $rss, $N, $per));
    if ($round == 1) {
      within_bound($per < 48, "idle sessions: RSS per idle WebSocket session is bounded (< 48 KiB; got ${\ sprintf '%.2f', $per })");
    }
    ok(echo_ok($gw->port), "idle sessions round $round: a new client still gets an echo");
    my ($s0, $b0) = ($socks->[0], '');
    ok(session_echoes($s0, \$b0, 'old session'), "idle sessions round $round: the oldest idle session still echoes");
    close $_ for @$socks;
    @$socks = ();
    ok(wait_for(15, sub { fd_count($pid) <= $fd0 + 5 }), "idle sessions round $round: wsgate frees them once they close");
    sleep 0.3;
    push @after, rss($pid);
  }
  diag(sprintf('idle sessions: peak RSS %d / %d KiB, after closing %d / %d KiB (rounds 1 / 2)',
    @peak, @after));
  within_bound($peak[1] <= $peak[0] + 2048, 'idle sessions: a second round of 2,000 sessions does not raise the peak RSS (+2 MiB slack)');
  within_bound($after[1] <= $after[0] + 2048, 'idle sessions: RSS after closing does not keep growing from round to round');
  ok(echo_ok($gw->port), 'idle sessions: after closing them all a new client gets an echo');
  log_clean($gw, 'idle sessions');
  stops_cleanly($gw, 'idle sessions');
}

# ---- 3. abrupt resets (RST) from the client and from the backend ----
{
  my $echo = tcp_echo_server();
  # Writes 128 KiB, gives wsgate time to forward it, then resets.
  my $mid = start_server(sub {
    my $c = shift;
    send_all($c, 'm' x (128 * 1024));
    sleep 0.5;
    rst_close($c);
  });
  # Accepts and resets without sending a byte: at once, and after the client had its 101.
  my $now = start_server(sub { rst_close(shift) });
  my $late = start_server(sub { my $c = shift; sleep 0.3; rst_close($c) });
  my $gw = wsgate(<<"INI");
[route echo]
path = /echo
backend = echo

[route tcp]
path = /tcp
backend = tcp://127.0.0.1:${\ $echo->port }

[route mid]
path = /rstmid
backend = tcp://127.0.0.1:${\ $mid->port }

[route now]
path = /rstnow
backend = tcp://127.0.0.1:${\ $now->port }

[route late]
path = /rstlate
backend = tcp://127.0.0.1:${\ $late->port }
INI
  my $port = $gw->port;
  ok(echo_ok($port), 'reset: warm-up echo works');
  my $fd0 = fd_count($gw->pid);

  # Client RST with half a request sent.
  for my $path ('/echo', '/tcp') {
    my $s = raw_connect($port);
    send_all($s, "GET $path HTTP/1.1\r\nHost: localhost\r\nUpgrade: webs");
    sleep 0.1;
    rst_close($s);
    sleep 0.1;
    ok(alive($gw) && echo_ok($port), "reset: client RST mid-handshake on $path; wsgate serves a new client");
  }

  # Client RST mid-frame: header and half the payload of a 1 MiB frame.
  for my $path ('/echo', '/tcp') {
    my ($s, $buf) = open_session($port, $path);
    ok($s, "reset: $path session open for a mid-frame RST") or next;
    my $frame = client_frame(2, 'f' x (1 << 20));
    send_all($s, substr($frame, 0, 14 + (1 << 19)));
    sleep 0.2;
    rst_close($s);
    sleep 0.1;
    ok(alive($gw) && echo_ok($port), "reset: client RST mid-frame (512 KiB of a 1 MiB frame) on $path; wsgate serves a new client");
  }

  # Client RST right after the 101 on a tcp route.
  {
    my ($s) = open_session($port, '/tcp');
    ok($s, 'reset: /tcp answers 101');
    rst_close($s) if $s;
    sleep 0.1;
    ok(alive($gw) && echo_ok($port), 'reset: client RST right after the 101 on a tcp route; wsgate serves a new client');
  }

  # Backend RST mid-stream while the client receives: the data read so far, then close 1011.
  {
    my ($s, $buf) = open_session($port, '/rstmid');
    ok($s, 'reset: /rstmid answers 101');
    if ($s) {
      my ($code, $reason, $frames) = read_until_close($s, 5, $buf);
      my $got = 0;
      $got += length $_->{payload} for @$frames;
      diag("backend RST mid-stream: client got $got bytes, then close ${\ ($code // 'empty') } ($reason)");
      is($code, 1011, 'reset: backend RST mid-stream gives the client close 1011');
      is($got, 128 * 1024, 'reset: the client still gets the 128 KiB the backend sent before its RST');
      ok(peer_closed($s), 'reset: then wsgate closes the client TCP connection');
    }
    ok(alive($gw) && echo_ok($port), 'reset: after a backend RST mid-stream wsgate serves a new client');
  }

  # Backend RST before answering anything.
  {
    my ($s, $buf, $r) = open_session($port, '/rstlate');
    ok($s, 'reset: /rstlate answers 101 (the backend accepted)');
    if ($s) {
      my ($code, $reason, $frames) = read_until_close($s, 5, $buf);
      is($code, 1011, 'reset: backend RST with nothing sent, after the 101 -> client close 1011')
        or diag("reason: $reason");
      is(scalar @$frames, 0, 'reset: no data frame reaches the client');
    }
    for my $i (1 .. 5) {
      my ($s2, $buf2, $r2) = open_session($port, '/rstnow');
      my $what;
      if ($s2) {
        my ($code) = read_until_close($s2, 5, $buf2);
        $what = "101 then close ${\ ($code // 'empty') }";
        ok(defined $code && $code == 1011, "reset: backend RST right after accept (try $i): 101 then close 1011")
          or diag("got $what");
      } else {
        $what = $r2 ? $r2->{status} : 'no answer';
        is($what, 502, "reset: backend RST right after accept (try $i): 502 when it lands before the connect completes");
      }
    }
    ok(alive($gw) && echo_ok($port), 'reset: after backend RSTs before answering, wsgate serves a new client');
  }
  no_fd_leak($gw, $fd0, 'reset');
  log_clean($gw, 'reset');
  stops_cleanly($gw, 'reset');
}

# ---- 4. header bombs: 431 and close, without reading unbounded data ----
{
  my $gw = wsgate(<<"INI");
[route echo]
path = /echo
backend = echo
INI
  my $port = $gw->port;
  ok(echo_ok($port), 'header bomb: warm-up echo works');
  my $fd0 = fd_count($gw->pid);
  my $base = "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

  {
    my $s = raw_connect($port);
    send_all($s, $base . 'X-Bomb: ' . ('a' x 65536) . "\r\n\r\n");
    my $r = read_http_response($s, 5);
    is($r && $r->{status}, 431, 'header bomb: a 64 KiB header line -> 431');
    ok(peer_closed($s, 3), 'header bomb: 64 KiB line: then wsgate closes the connection');
    ok(echo_ok($port), 'header bomb: 64 KiB line: a new client still gets an echo');
  }
  {
    my $s = raw_connect($port);
    send_all($s, $base . join('', map { "X-$_: y\r\n" } 1 .. 10_000) . "\r\n");
    my $r = read_http_response($s, 5);
    is($r && $r->{status}, 431, 'header bomb: 10,000 tiny headers -> 431');
    ok(peer_closed($s, 3), 'header bomb: 10,000 headers: then wsgate closes the connection');
    ok(echo_ok($port), 'header bomb: 10,000 headers: a new client still gets an echo');
  }
  {
    # Endless headers, 1 KiB per millisecond, never a blank line: wsgate must answer while the
    # client is still sending, long before 1 MiB.
    my $s = raw_connect($port);
    $s->blocking(0);
    my $sel = IO::Select->new($s);
    my ($sent, $answer, $write_failed, $i) = (0, '', 0, 0);
    my $t0 = time;
    send_all($s, "GET /echo HTTP/1.1\r\n");
    while ($sent < (1 << 20) && time - $t0 < 10) {
      my $chunk = join '', map { sprintf "X-Endless-%06d: %s\r\n", $i++, 'z' x 100 } 1 .. 8;
      my $n = syswrite($s, $chunk);
      if (!defined $n) {
        if ($!{EAGAIN}) { sleep 0.001; next }
        $write_failed = 1;
        last;
      }
      $sent += $n;
      if ($sel->can_read(0.001)) {
        my $r = sysread($s, $answer, 65536, length $answer);
        last if !$r || $answer =~ /\r\n\r\n/;
      }
    }
    $s->blocking(1);
    if ($answer !~ /\r\n\r\n/ && !$write_failed) {
      sysread($s, $answer, 65536, length $answer) if $sel->can_read(2);
    }
    diag(sprintf('endless headers: wsgate answered after the client sent %d bytes (%.3f s)%s',
      $sent, time - $t0, $write_failed ? '; writes failed' : ''));
    like($answer, qr{^HTTP/1\.1 431 }, 'header bomb: a header block that never ends -> 431');
    ok($sent < (1 << 20) && ($answer ne '' || $write_failed),
      'header bomb: wsgate answers while the client is still sending (before 1 MiB)');
    ok(peer_closed($s, 6), 'header bomb: endless headers: then wsgate closes the connection');
    ok(echo_ok($port), 'header bomb: endless headers: a new client still gets an echo');
  }
  no_fd_leak($gw, $fd0, 'header bomb');
  log_clean($gw, 'header bomb');
  stops_cleanly($gw, 'header bomb');
}

diag(sprintf('60-hostile.t: highest wsgate RSS seen in any case: %d KiB; ran in %.1f s', peak_rss(), time - $T_START));
done_testing();
