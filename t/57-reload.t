# SIGHUP reloads the whole configuration in place. Under continuous load (200 connections
# exchanging numbered messages over an echo route, a TCP bridge and a ws:// proxy route), 20
# reloads in a row add and drop routes and listeners. No connection may drop, no message be
# lost or reordered, and each new route must answer the first client that tries it once the
# reload is logged. Then the refusals: a config error, a listener that cannot be bound and a
# changed worker count keep the running configuration.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use WsgateMojo;
use Test::More;
use IO::Socket::INET;
use Mojo::IOLoop;
use Mojo::UserAgent;
use Time::HiRes qw(sleep time);
use WsgateTest;

my $CLIENTS = $ENV{RELOAD_CLIENTS} || 200;
my $RELOADS = $ENV{RELOAD_COUNT} || 20;

my $tcp_echo = tcp_echo_server();
my $ws_backend = wsgate("[route echo]\npath = /echo\nbackend = echo\ntype = text\n");
my $base_routes = <<"INI";
[route echo]
path = /echo
backend = echo
type = text

[route bridge]
path = /bridge
backend = tcp://127.0.0.1:${\ $tcp_echo->port }
type = text

[route proxy]
path = /proxy
backend = ws://127.0.0.1:${\ $ws_backend->port }/echo
INI

my $gw = wsgate($base_routes, server => "workers = 2\n");
my $port = $gw->port;
my @extra_ports = map { empty_port() } 1 .. 4;

# Rewrites the file wsgate reads: the base routes, route /new$n, and listener $extra if given.
sub write_config {
  my ($n, $extra) = @_;
  open my $fh, '>', $gw->{conf} or die "$gw->{conf}: $!";
  print $fh "[server]\nlisten = 127.0.0.1:$port\n",
    (defined $extra ? "listen = 127.0.0.1:$extra\n" : ''), "workers = 2\n\n", $base_routes,
    "\n[route new$n]\npath = /new$n\nbackend = echo\ntype = text\n";
  close $fh;
}

# ---- the load: numbered messages, each checked when it comes back ----

my $ua = Mojo::UserAgent->new(inactivity_timeout => 0, connect_timeout => 10);
Mojo::IOLoop->recurring(0.05 => sub { });  # one_tick returns even when no socket stirs
my @paths = ('/echo', '/bridge', '/proxy');
my (%opened, %ended, %sent, %got, @wrong);
my $stopping = 0;
for my $id (1 .. $CLIENTS) {
  my $path = $paths[$id % 3];
  $ua->websocket("ws://127.0.0.1:$port$path" => sub {
    my ($ua, $tx) = @_;
    unless ($tx->is_websocket) {
      push @wrong, "client $id: no WebSocket on $path";
      return;
    }
    $opened{$id} = $tx;
    $sent{$id} = $got{$id} = 0;
    $tx->on(message => sub {
      my ($tx, $msg) = @_;
      my $want = "$id:" . ($got{$id} + 1);
      push @wrong, "client $id on $path: got '$msg', want '$want'" if $msg ne $want;
      $got{$id}++;
      return if $stopping;
      $tx->send("$id:" . ++$sent{$id});
    });
    $tx->on(finish => sub { $ended{$id} = $_[1] });
    $tx->send("$id:" . ++$sent{$id});
  });
}
Mojo::IOLoop->one_tick until keys(%opened) + @wrong >= $CLIENTS || time > $^T + 60;
is(scalar keys %opened, $CLIENTS, "$CLIENTS connections open over echo, bridge and proxy routes")
  or diag join("\n", @wrong[0 .. 4]);

# Runs the loop (and so the load) for $secs.
sub run_load {
  my ($secs) = @_;
  my $until = time + $secs;
  Mojo::IOLoop->one_tick while time < $until;
}

# One WebSocket round trip on $p$path while the load runs; true if it echoed.
sub round_trip {
  my ($p, $path) = @_;
  my ($ok, $done);
  $ua->websocket("ws://127.0.0.1:$p$path" => sub {
    my ($ua, $tx) = @_;
    unless ($tx->is_websocket) {
      $done = 1;
      return;
    }
    $tx->on(message => sub { $ok = $_[1] eq 'hello new'; $tx->finish });
    $tx->on(finish => sub { $done = 1 });
    $tx->send('hello new');
  });
  my $until = time + 10;
  Mojo::IOLoop->one_tick until $done || time > $until;
  return $ok;
}

run_load(1);
my $before = 0;
$before += $_ for values %got;
cmp_ok($before, '>', $CLIENTS, "messages flow before the reloads ($before echoed)");

# ---- 20 reloads under load ----

my ($served_first, $listeners_ok, $old_gone) = (0, 0, 0);
my $prev_extra;
my $t0 = time;
for my $n (1 .. $RELOADS) {
  my $extra = $n % 5 == 0 ? undef : $extra_ports[$n % 4];  # every fifth: no extra listener
  write_config($n, $extra);
  my $logged = () = $gw->log_text =~ /SIGHUP: reloaded/g;
  kill 'HUP', $gw->pid;
  my $until = time + 10;
  run_load(0.01) until (() = $gw->log_text =~ /SIGHUP: reloaded/g) > $logged || time > $until;
  # Once the reload is logged, the first client to try the new route gets it, on both the
  # old listener and the new one.
  $served_first++ if round_trip($port, "/new$n");
  $listeners_ok++ if !defined $extra || round_trip($extra, "/new$n");
  if ($n > 1) {
    my ($s, $buf, $res) = ws_open($port, '/new' . ($n - 1));
    $old_gone++ if $res && $res->{status} == 404;
    close $s;
  }
  if (defined $prev_extra && (!defined $extra || $prev_extra != $extra)) {
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $prev_extra);
    ok(!$c, "reload $n: the listener on $prev_extra that the file dropped is closed");
  }
  $prev_extra = $extra;
  run_load(0.2);
}
diag sprintf('%d reloads in %.1f s', $RELOADS, time - $t0);
is($served_first, $RELOADS, 'each new route answers the first client after its reload');
is($listeners_ok, $RELOADS, '... on new listeners too');
is($old_gone, $RELOADS - 1, 'each route the file dropped is gone for new clients (404)');
like($gw->log_text, qr/SIGHUP: reloaded .*generation @{[$RELOADS + 1]}\b/,
  'the log counts the generations');

run_load(1);
$stopping = 1;
run_load(1);  # the last replies come back

# ---- nothing dropped, lost or reordered ----

is(scalar keys %ended, 0, 'no connection was closed during the reloads')
  or diag explain \%ended;
is(scalar @wrong, 0, 'no message was lost, changed or reordered')
  or diag join("\n", @wrong[0 .. ($#wrong < 9 ? $#wrong : 9)]);
my ($total, $short) = (0, 0);
for my $id (keys %opened) {
  $total += $got{$id};
  $short++ if $got{$id} != $sent{$id};
}
is($short, 0, 'every client got back every message it sent');
cmp_ok($total, '>', $before * 2, "messages kept flowing throughout ($total echoed)");
$_->finish(1000) for values %opened;
run_load(0.5);

# ---- reloads that are refused keep the running configuration ----

# Sends SIGHUP with $text as the file; returns the log lines the reload added.
sub refused_reload {
  my ($text) = @_;
  open my $fh, '>', $gw->{conf} or die;
  print $fh $text;
  close $fh;
  my $len = length $gw->log_text;
  kill 'HUP', $gw->pid;
  wait_for(5, sub { substr($gw->log_text, $len) =~ /SIGHUP: reload/ });
  sleep 0.2;
  return substr($gw->log_text, $len);
}
my $good = "[server]\nlisten = 127.0.0.1:$port\nworkers = 2\n\n$base_routes";
{
  my $log = refused_reload("$good\n[route broken]\npath = /broken\nbackend = tcp://nowhere\n");
  like($log, qr/SIGHUP: reload failed; still serving generation @{[$RELOADS + 1]}/,
    'a config error: the reload fails');
  like($log, qr/wsgate\.ini:\d+: bad backend/, '... naming FILE:LINE');
  ok(round_trip($port, "/new$RELOADS"), '... and the routes in use stay');
}
{
  my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
    or die;
  my $log = refused_reload("[server]\nlisten = 127.0.0.1:$port\nlisten = 127.0.0.1:"
    . $busy->sockport . "\nworkers = 2\n\n$base_routes");
  like($log, qr/wsgate\.ini:3: cannot listen on 127\.0\.0\.1:\d+: Address already in use; a reload needs every new listener/,
    'a listener that cannot be bound fails the reload as a whole');
  ok(round_trip($port, "/new$RELOADS"), '... and the routes in use stay');
}
{
  my $log = refused_reload("[server]\nlisten = 127.0.0.1:$port\nworkers = 3\n\n$base_routes");
  like($log, qr/wsgate\.ini:3: workers changed from 2 to 3, which a reload cannot do; restart/,
    'a changed worker count is refused');
  ok(round_trip($port, "/new$RELOADS"), '... and the routes in use stay');
}
is($gw->stop('TERM'), 0, 'a clean stop after all that');

done_testing;
