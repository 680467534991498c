# Hostile peers at the limits: absurd frame lengths, descriptor exhaustion, max_connections, and
# a backend that floods a client that reads nothing. Every case checks that wsgate stays alive,
# keeps serving other clients (a fresh echo round trip), and stays within memory and CPU bounds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

# The fd-exhaustion case must start wsgate under a low descriptor limit. The fixture execs
# $ENV{WSGATE} (read once, when it loads), so point it at a wrapper that applies
# "ulimit -n $WSGATE_HOSTILE_NOFILE" when that variable is set and then execs the real binary
# (same pid). With the variable unset the wrapper changes nothing.
BEGIN {
  require Cwd;
  require File::Temp;
  my $real = $ENV{WSGATE} || "$FindBin::Bin/../build/wsgate";
  my $abs = Cwd::abs_path($real);
  die "wsgate binary $real not found or not executable\n" unless $abs && -x $abs;
  my $dir = File::Temp::tempdir(CLEANUP => 1);
  my $wrap = "$dir/wsgate-nofile";
  open my $fh, '>', $wrap or die "$wrap: $!";
  print $fh <<'SH';
#!/bin/sh
if [ -n "$WSGATE_HOSTILE_NOFILE" ]; then
  ulimit -n "$WSGATE_HOSTILE_NOFILE" || exit 111
fi
exec "$WSGATE_HOSTILE_REAL" "$@"
SH
  close $fh;
  chmod 0755, $wrap or die "chmod $wrap: $!";
  $ENV{WSGATE_HOSTILE_REAL} = $abs;
  $ENV{WSGATE} = $wrap;
  delete $ENV{WSGATE_HOSTILE_NOFILE};
}

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

# ---- 5. absurd frame lengths: close codes, no allocation for the announced length ----
{
  my $echo = tcp_echo_server();
  my $gw = wsgate(<<"INI");
[route echo]
path = /echo
backend = echo

[route tcp]
path = /tcp
backend = tcp://127.0.0.1:${\ $echo->port }
INI
  my $port = $gw->port;
  ok(echo_ok($port), 'frame length: warm-up echo works');
  my $fd0 = fd_count($gw->pid);
  my $rss0 = rss($gw->pid);
  my $peak = $rss0;
  for my $path ('/echo', '/tcp') {
    for my $case ([0x80000000, 0, 1002, '2^63 (MSB set)'],
                  [0x7fffffff, 0xffffffff, 1009, '2^63-1'],
                  [1, 0, 1009, '2^32']) {
      my ($hi, $lo, $want, $name) = @$case;
      my ($s, $buf) = open_session($port, $path);
      ok($s, "frame length: $path session opens") or next;
      send_all($s, header64($hi, $lo) . ('p' x 1000));
      my ($code, $reason) = read_until_close($s, 5, $buf);
      is($code, $want, "frame length: a frame announcing $name bytes on $path -> close $want")
        or diag("reason: $reason");
      ok(peer_closed($s), "frame length: $name on $path: then wsgate closes TCP");
      my $r = rss($gw->pid);
      $peak = $r if $r > $peak;
    }
  }
  diag("frame length: RSS $rss0 KiB before, peak $peak KiB after the announced lengths");
  within_bound($peak - $rss0 < 4096, 'frame length: RSS does not jump (< 4 MiB) for announced 2^32..2^63 byte frames');
  ok(echo_ok($port), 'frame length: a new client still gets an echo');
  no_fd_leak($gw, $fd0, 'frame length');
  log_clean($gw, 'frame length');
  stops_cleanly($gw, 'frame length');
}

# ---- 6. descriptor exhaustion: log, back off, do not spin, recover ----
{
  my $LIMIT = 64;
  local $ENV{WSGATE_HOSTILE_NOFILE} = $LIMIT;
  my $gw = wsgate(<<"INI", server => "handshake_timeout = 30s\n");
[route echo]
path = /echo
backend = echo
INI
  my $pid = $gw->pid;
  my $lim = '';
  if (open my $fh, '<', "/proc/$pid/limits") { ($lim) = grep { /open files/ } <$fh> }
  like($lim, qr/open files\s+$LIMIT\s+$LIMIT\b/, "fd exhaustion: wsgate runs with a descriptor limit of $LIMIT")
    or diag($lim);
  ok(echo_ok($gw->port), 'fd exhaustion: echo works before the flood');
  my ($keep, $keepbuf) = open_session($gw->port, '/echo');
  ok($keep, 'fd exhaustion: a session opened before the flood');
  my $fd0 = fd_count($pid);
  my @c;
  for (1 .. 100) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw->port, Proto => 'tcp') or last;
    push @c, $s;
  }
  is(scalar @c, 100, 'fd exhaustion: 100 idle TCP connections opened (more than the limit)');
  my $logged = wait_for(5, sub { $gw->log_text =~ /accept failed/ });
  ok($logged, 'fd exhaustion: the log says "accept failed" (and pauses accepting)');
  diag("fd exhaustion: wsgate had $fd0 descriptors at rest (some inherited from the test's parent), ${\ fd_count($pid) } at the limit");
  my $cpu0 = cpu_seconds($pid);
  sleep 2;
  my $cpu = cpu_seconds($pid) - $cpu0;
  my $fails = () = $gw->log_text =~ /accept failed/g;
  diag(sprintf('fd exhaustion: %.3f s of CPU in 2 s at the limit; %d "accept failed" lines so far', $cpu, $fails));
  ok($cpu < 0.5, 'fd exhaustion: wsgate does not spin (< 0.5 s of CPU in 2 s)');
  ok($fails <= 2, 'fd exhaustion: the warning is rate-limited, not logged at every 100 ms retry');
  ok(alive($gw), 'fd exhaustion: wsgate is still alive at the limit');
  ok($keep && session_echoes($keep, $keepbuf, 'at the limit'), 'fd exhaustion: the session opened before still echoes at the limit');
  close $_ for @c;
  @c = ();
  my $t0 = time;
  my $back = wait_for(5, sub { echo_ok($gw->port) });
  ok($back, 'fd exhaustion: once the descriptors are freed a new client gets a working echo session')
    and diag(sprintf('fd exhaustion: recovered %.2f s after the connections closed', time - $t0));
  log_clean($gw, 'fd exhaustion');
  stops_cleanly($gw, 'fd exhaustion');
}

# ---- 7. max_connections = 5: the 6th gets 503, the 5 keep working, a freed slot is reused ----
{
  my $gw = wsgate(<<"INI", server => "max_connections = 5\n");
[route echo]
path = /echo
backend = echo
INI
  my $port = $gw->port;
  my @open;
  for my $i (1 .. 5) {
    my ($s, $buf) = open_session($port, '/echo');
    push @open, [$s, $buf] if $s;
  }
  is(scalar @open, 5, 'max_connections: 5 echo sessions open');
  my $x = raw_connect($port);
  raw_upgrade($x, '/echo');
  my $r = read_http_response($x, 5);
  is($r && $r->{status}, 503, 'max_connections: the 6th connection gets HTTP 503');
  is($r && $r->{headers}{connection}, 'close', 'max_connections: the 503 says Connection: close');
  ok(peer_closed($x, 6), 'max_connections: and wsgate closes the 6th');
  close $x;
  my $all = 1;
  $all &&= session_echoes($_->[0], $_->[1], "session $_") for @open;
  ok($all, 'max_connections: the 5 existing sessions still echo');
  my ($s, $buf) = @{ shift @open };
  send_all($s, client_frame(8, pack('n', 1000)));
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1000, 'max_connections: one session closes normally');
  peer_closed($s, 3);
  close $s;
  my $admitted = wait_for(5, sub { echo_ok($port) });
  ok($admitted, 'max_connections: after one closes, a new client is admitted and echoes');
  $all = 1;
  $all &&= session_echoes($_->[0], $_->[1], "again $_") for @open;
  ok($all, 'max_connections: the other 4 sessions still echo');
  close $_->[0] for @open;
  log_clean($gw, 'max_connections');
  stops_cleanly($gw, 'max_connections');
}

# ---- 8. a backend floods clients that read nothing, then resets: bounded RSS ----
{
  my $FLOOD_SECS = 3;
  my $flood = start_server(sub {
    my $c = shift;
    $c->blocking(0);
    my $chunk = 'F' x 65536;
    my $end = time + $FLOOD_SECS;
    while (time < $end) {
      my $n = syswrite($c, $chunk);
      last if !defined $n && !$!{EAGAIN};
      sleep 0.005 unless defined $n;
    }
    rst_close($c);
  });
  my $gw = wsgate(<<"INI");
[route echo]
path = /echo
backend = echo

[route flood]
path = /flood
backend = tcp://127.0.0.1:${\ $flood->port }
INI
  my $pid = $gw->pid;
  my $port = $gw->port;
  ok(echo_ok($port), 'flood: warm-up echo works');
  my $fd0 = fd_count($pid);
  my $rss0 = rss($pid);
  my @f;
  for (1 .. 4) {
    my ($s, $buf) = open_session($port, '/flood');
    push @f, [$s, $buf] if $s;
  }
  is(scalar @f, 4, 'flood: 4 clients open sessions to a flooding backend and read nothing');
  my ($peak, $others_ok, $slowest) = ($rss0, 1, 0);
  my $end = time + $FLOOD_SECS + 0.5;
  while (time < $end) {
    my $r = rss($pid);
    $peak = $r if $r > $peak;
    my $dt = echo_ok($port);
    $others_ok = 0 unless $dt;
    $slowest = $dt if $dt && $dt > $slowest;
    sleep 0.1;
  }
  diag(sprintf('flood: RSS %d KiB before, peak %d KiB (growth %d KiB) with 4 stalled clients; slowest other echo %.3f s',
    $rss0, $peak, $peak - $rss0, $slowest));
  within_bound($peak - $rss0 < 16 * 1024, 'flood: RSS growth stays under 16 MiB while the backend floods');
  ok($others_ok, 'flood: other clients get echoes throughout the flood');
  # Now the clients read: whatever was buffered, then the backend's reset ends the session.
  for my $i (0 .. $#f) {
    my ($s, $buf) = @{ $f[$i] };
    my ($code, $reason, $frames) = read_until_close($s, 10, $buf);
    my $got = 0;
    $got += length $_->{payload} for @$frames;
    diag("flood client $i: read $got bytes, then close ${\ ($code // 'empty') } ($reason)");
    is($code, 1011, "flood: client $i gets close 1011 after the backend reset");
    close $s;
  }
  ok(echo_ok($port), 'flood: after the flood a new client gets an echo');
  no_fd_leak($gw, $fd0, 'flood');
  log_clean($gw, 'flood');
  stops_cleanly($gw, 'flood');
}

diag(sprintf('61-hostile-limits.t: highest wsgate RSS seen in any case: %d KiB; ran in %.1f s', peak_rss(), time - $T_START));
done_testing();
