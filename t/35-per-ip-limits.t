# Per-client limits (issue 12): max_connections_per_ip and handshake_rate_per_ip answer 429 with
# Retry-After per source address, other addresses stay unaffected, freed connections and time
# let a client in again, and the fixed table stays correct and bounded (evictions counted,
# RSS flat) under connections from 1,200 distinct 127/8 source addresses. Linux loopback
# accepts any 127/8 address as a client's source, so each "client" binds its own.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use WsgateMojo;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use WsgateTest;

# A raw client socket from source address $ip.
sub connect_from {
  my ($ip, $port) = @_;
  my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, LocalAddr => $ip,
    Proto => 'tcp') or die "connect from $ip: $!";
  binmode $s;
  return $s;
}

# An upgrade on /echo from $ip: ($sock, \$rest, $response or undef).
sub open_from {
  my ($ip, $port) = @_;
  my $s = connect_from($ip, $port);
  raw_upgrade($s, '/echo');
  my $res = read_http_response($s, 10);
  my $buf = $res ? $res->{rest} : '';
  return ($s, \$buf, $res);
}

# Echoes one message on an open session.
sub echoes {
  my ($s, $buf, $text) = @_;
  send_all($s, client_frame(1, $text));
  my $f = read_frame($s, 10, $buf);
  return $f && $f->{payload} eq $text;
}

# Closes an open session with 1000 and waits for wsgate's answer and its close of the socket.
sub close_session {
  my ($s, $buf) = @_;
  send_all($s, client_frame(8, pack('n', 1000)));
  my ($code) = read_until_close($s, 10, $buf);
  tcp_closed($s, undef, 10);
  close $s;
  return $code;
}

# /metrics as text, over plain HTTP/1.0.
sub metrics {
  my ($port) = @_;
  my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
    or die "metrics: $!";
  print $s "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  local $/;
  my $all = <$s>;
  return $all // '';
}

# A sample's value in a /metrics text; undef if absent.
sub metric {
  my ($text, $name) = @_;
  return $text =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

my $echo = "[route echo]\npath = /echo\nbackend = echo\n";

# ---- max_connections_per_ip = 3 ----
{
  my $mport = WsgateTest::empty_port();
  my $gw = wsgate("$echo\n[metrics]\nlisten = 127.0.0.1:$mport\n",
    server => "max_connections_per_ip = 3\n");
  my $port = $gw->port;
  my @open;
  for my $i (1 .. 3) {
    my ($s, $buf, $r) = open_from('127.0.0.2', $port);
    is($r && $r->{status}, 101, "connections: session $i from 127.0.0.2 opens");
    push @open, [$s, $buf];
  }
  my ($x, $xbuf, $r) = open_from('127.0.0.2', $port);
  is($r && $r->{status}, 429, 'connections: the 4th from 127.0.0.2 gets 429');
  is($r && $r->{headers}{'retry-after'}, '1', 'connections: with Retry-After: 1');
  is($r && $r->{headers}{connection}, 'close', 'connections: and Connection: close');
  ok(tcp_closed($x, $xbuf, 10), 'connections: wsgate closes the refused connection');
  close $x;

  my ($o, $obuf, $or) = open_from('127.0.0.3', $port);
  is($or && $or->{status}, 101, 'connections: 127.0.0.3 is still admitted');
  ok($or && echoes($o, $obuf, 'other'), 'connections: and its session echoes');

  # An independent client: Mojolicious from the same address sees a failed handshake, 429.
  my $ua = Mojo::UserAgent->new(socket_options => { LocalAddr => '127.0.0.2' },
    connect_timeout => 5, request_timeout => 10);
  my ($mojo_code, $mojo_ws, $mojo_retry);
  $ua->websocket("ws://127.0.0.1:$port/echo" => sub {
    my (undef, $t) = @_;
    $mojo_ws = $t->is_websocket;
    $mojo_code = $t->res->code;
    $mojo_retry = $t->res->headers->header('Retry-After');
  });
  run_until(10, sub { defined $mojo_code || $mojo_ws });
  ok(!$mojo_ws, 'connections: Mojolicious from 127.0.0.2 does not get a WebSocket');
  is($mojo_code, 429, 'connections: Mojolicious sees status 429');
  is($mojo_retry, '1', 'connections: and Retry-After: 1');

  my $all = 1;
  $all &&= echoes($_->[0], $_->[1], 'still') for @open;
  ok($all, 'connections: the 3 sessions from 127.0.0.2 still echo');
  my ($s, $buf) = @{ shift @open };
  is(close_session($s, $buf), 1000, 'connections: one of them closes normally');
  my $again;
  ok(wait_for(10, sub {
    my ($n, $nbuf, $nr) = open_from('127.0.0.2', $port);
    return 0 unless $nr && $nr->{status} == 101;
    $again = [$n, $nbuf];
  }), 'connections: once one closed, 127.0.0.2 is admitted again');
  ok($again && echoes(@$again, 'again'), 'connections: and the new session echoes');
  push @open, $again if $again;

  my $m = metrics($mport);
  # Two refusals above, and maybe more while the closed session was still going away.
  my $refused = metric($m, 'wsgate_per_ip_rejected_total{limit="connections"}') // 0;
  cmp_ok($refused, '>=', 2, 'connections: /metrics counts the refusals');
  is(metric($m, 'wsgate_per_ip_table_full_total'), 0, 'connections: the table was never full');
  is(metric($m, 'wsgate_handshakes_total{status="429"}') // 0, $refused,
    'connections: the handshakes total has the same 429s');
  close_session(@$_) for @open;
  close_session($o, $obuf);
  my $log = $gw->log_text;
  like($log, qr/127\.0\.0\.2:\d+: 429: max_connections_per_ip \(3\) reached/,
    'connections: the refusal is logged with the client address');
  like($log, qr/127\.0\.0\.2:\d+ .*\b429\b/, 'connections: the access log shows status 429');
  is($gw->stop('TERM', 15), 0, 'connections: wsgate stops cleanly');
}

# ---- handshake_rate_per_ip = 2/s, burst 2 ----
{
  my $gw = wsgate($echo, server => "handshake_rate_per_ip = 2/s\nhandshake_burst_per_ip = 2\n");
  my $port = $gw->port;
  my @status;
  my $refused;
  # The first two always have tokens; later ones would only get one if the VM stalled for half
  # a second between them, so try a few until one is refused.
  for my $i (1 .. 8) {
    my ($s, $buf, $r) = open_from('127.0.0.4', $port);
    push @status, $r ? $r->{status} : 'none';
    if ($r && $r->{status} == 429) { $refused = $r; close $s; last }
    close $s;
  }
  is_deeply([@status[0, 1]], [101, 101], 'rate: the first two handshakes from 127.0.0.4 open');
  ok($refused, 'rate: a quick further one gets 429') or diag("statuses: @status");
  cmp_ok($refused ? $refused->{headers}{'retry-after'} // 0 : 0, '>=', 1,
    'rate: with Retry-After of at least 1 s');
  my (undef, undef, $other) = open_from('127.0.0.5', $port);
  is($other && $other->{status}, 101, 'rate: 127.0.0.5 has a bucket of its own');
  sleep 1.5;
  my ($s, $buf, $r) = open_from('127.0.0.4', $port);
  is($r && $r->{status}, 101, 'rate: after waiting, 127.0.0.4 is admitted again');
  ok($r && echoes($s, $buf, 'rate'), 'rate: and its session echoes');
  close_session($s, $buf) if $r;
  like($gw->log_text, qr/127\.0\.0\.4:\d+: 429: handshake_rate_per_ip exceeded, retry in \d+ s/,
    'rate: the refusal is logged');
  is($gw->stop('TERM', 15), 0, 'rate: wsgate stops cleanly');
}

# ---- SIGHUP: new limits apply to new connections; sessions admitted before still release ----
{
  my $gw = wsgate($echo, server => "max_connections_per_ip = 2\n");
  my $port = $gw->port;
  my @open = map { [open_from('127.0.0.6', $port)] } 1 .. 2;
  is(join(',', map { $_->[2] ? $_->[2]{status} : 'none' } @open), '101,101',
    'reload: two sessions from 127.0.0.6 open under max_connections_per_ip = 2');
  my (undef, undef, $r) = open_from('127.0.0.6', $port);
  is($r && $r->{status}, 429, 'reload: a third gets 429');
  open my $fh, '>', $gw->{conf} or die;
  print $fh "[server]\nlisten = 127.0.0.1:$port\nmax_connections_per_ip = 3\n$echo";
  close $fh;
  kill 'HUP', $gw->pid;
  ok(wait_for(10, sub { $gw->log_text =~ /SIGHUP: reloaded/ }), 'reload: SIGHUP reloads');
  my $third;
  ok(wait_for(10, sub {
    my @t = open_from('127.0.0.6', $port);
    return 0 unless $t[2] && $t[2]{status} == 101;
    $third = \@t;
  }), 'reload: with max_connections_per_ip = 3 a third is admitted');
  push @open, $third if $third;
  (undef, undef, $r) = open_from('127.0.0.6', $port);
  is($r && $r->{status}, 429, 'reload: the sessions from before the reload still count: a 4th gets 429');
  is(close_session($_->[0], $_->[1]), 1000, 'reload: a session closes') for @open;
  # Had the two older sessions not released into the same table, these would be refused.
  my @again;
  ok(wait_for(10, sub {
    my @t = open_from('127.0.0.6', $port);
    push @again, \@t if $t[2] && $t[2]{status} == 101;
    @again == 3;
  }), 'reload: after all closed, three new sessions from 127.0.0.6 open');
  close_session($_->[0], $_->[1]) for @again;
  is($gw->stop('TERM', 15), 0, 'reload: wsgate stops cleanly');
}

# ---- a 64-entry table and 1,200 distinct source addresses ----
{
  my $mport = WsgateTest::empty_port();
  my $gw = wsgate("$echo\n[metrics]\nlisten = 127.0.0.1:$mport\n",
    server => "per_ip_table_size = 64\nmax_connections_per_ip = 2\n"
      . "handshake_rate_per_ip = 1/m\nhandshake_burst_per_ip = 5\n");
  my $port = $gw->port;
  # Each address makes one session: its bucket is then not full for a minute, so a new address
  # can only get an entry by evicting one.
  my ($ok, $n, $rss0) = (0, 0, 0);
  my $t0 = time;
  for my $a (1 .. 5) {
    for my $b (0 .. 239) {
      my ($s, $buf, $r) = open_from("127.1.$a.$b", $port);
      $n++;
      $ok++ if $r && $r->{status} == 101;
      close_session($s, $buf) if $r && $r->{status} == 101;
      close $s;
    }
    $rss0 = rss_kib($gw->pid) if $a == 1;
  }
  my $rss1 = rss_kib($gw->pid);
  diag(sprintf('table: %d sessions from distinct addresses in %.1f s; RSS %d KiB after 240, '
    . '%d KiB after %d', $n, time - $t0, $rss0, $rss1, $n));
  is($ok, $n, "table: all $n clients from distinct addresses were admitted");
  my $m = metrics($mport);
  cmp_ok(metric($m, 'wsgate_per_ip_evictions_total') // 0, '>=', $n - 64,
    'table: /metrics counts the evictions a 64-entry table needs');
  is(metric($m, 'wsgate_per_ip_table_full_total'), 0, 'table: never full of live connections');
  # Generous: ASan's 8 MiB quarantine fills up here too; a per-address cost would be unbounded.
  cmp_ok($rss1 - $rss0, '<', 12288, 'table: RSS stays flat (grows less than 12 MiB)');
  # The limits still hold after all that churn.
  my @two = map { [open_from('127.0.0.9', $port)] } 1 .. 2;
  is(join(',', map { $_->[2] ? $_->[2]{status} : 'none' } @two), '101,101',
    'table: 127.0.0.9 opens two sessions');
  my (undef, undef, $third) = open_from('127.0.0.9', $port);
  is($third && $third->{status}, 429, 'table: its third gets 429');
  my (undef, undef, $limited) = open_from('127.1.1.7', $port);
  my $fresh_or_limited = $limited && ($limited->{status} == 101 || $limited->{status} == 429);
  ok($fresh_or_limited, 'table: an evicted address gets a clean answer (101 or 429)');
  close_session($_->[0], $_->[1]) for @two;
  is($gw->stop('TERM', 15), 0, 'table: wsgate stops cleanly');
}

done_testing;
