# Scaling out: Debian's haproxy (mode tcp, roundrobin, send-proxy-v2, retries and redispatch,
# health checks on wsgate's /healthz) in front of two wsgate instances with proxy listeners.
# Clients from 127.0.0.7 reach both, and the python3-websockets backend sees that address from
# each. Then one instance gets SIGTERM while clients go on opening connections: during its
# shutdown_grace its /healthz answers 503, haproxy takes it out while it still serves, and only
# then do its listeners close; its open sessions get close 1001 and it exits, no new connection
# fails at any moment, and the other instance takes them all.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep time);
use WsgateTest;

my $PY = '/usr/bin/python3';
plan skip_all => 'needs /usr/sbin/haproxy' unless -x '/usr/sbin/haproxy';
plan skip_all => 'needs /usr/bin/python3 with websockets'
  unless -x $PY && system($PY, '-c', 'import websockets') == 0;
plan skip_all => 'needs 127.0.0.7 on the loopback'
  unless IO::Socket::INET->new(LocalAddr => '127.0.0.7', LocalPort => 0, Proto => 'tcp');

my $dir = tempdir(CLEANUP => 1);

# ---- the backend: python3-websockets, recording each upgrade's path and headers ----
my ($backend, $bport, $seen) = ws_recorder($dir);

# Which instance served each request (the backend URL's path, /a or /b) and the client address
# the backend was told, by the request's n=.
sub served {
  my %by;
  for (split /\n/, slurp($seen) // '') {
    my $e = decode_json($_);
    my ($inst, $n) = $e->{path} =~ m{^/(\w)\?n=(\d+)$} or next;
    $by{$n} = { inst => $inst, ip => $e->{headers}{'x-real-ip'} };
  }
  return \%by;
}

# ---- two wsgate instances, each with a proxy listener ----
my %gw;
for my $name (qw(a b)) {
  my $pp = empty_port();
  my $mp = empty_port();
  my $routes = "[route ws]\npath = /ws\nbackend = ws://127.0.0.1:$bport/$name\nforwarded = on\n"
    . "\n[metrics]\nlisten = 127.0.0.1:$mp\n";
  $gw{$name} = { port => $pp, mport => $mp, gw => wsgate($routes,
    server => "listen = 127.0.0.1:$pp proxy\nshutdown_timeout = 10s\nshutdown_grace = 2s\n"
      . "access_log = off\n") };
}

# ---- haproxy ----
my $hp = empty_port();
open my $cfg, '>', "$dir/haproxy.cfg" or die;
print $cfg <<"CFG";
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 3
  option redispatch 1
frontend ws
  bind 127.0.0.1:$hp
  default_backend wsgate
backend wsgate
  balance roundrobin
  option httpchk GET /healthz
  server a 127.0.0.1:$gw{a}{port} send-proxy-v2 check port $gw{a}{mport} inter 200ms fall 1 rise 2
  server b 127.0.0.1:$gw{b}{port} send-proxy-v2 check port $gw{b}{mport} inter 200ms fall 1 rise 2
CFG
close $cfg;
my $hap = start_program(['/usr/sbin/haproxy', '-db', '-f', "$dir/haproxy.cfg"], port => $hp,
  out => "$dir/haproxy.log");

# Opens /ws?n=N through haproxy from 127.0.0.7; returns ($sock, \$buf) after a 101, or
# (undef, why).
sub open_ws {
  my ($n) = @_;
  my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hp,
    LocalAddr => '127.0.0.7', Proto => 'tcp', Timeout => 10) or return (undef, "connect: $!");
  binmode $s;
  raw_upgrade($s, "/ws?n=$n");
  my $res = read_http_response($s, 15);
  return (undef, $res ? "HTTP $res->{status}" : 'closed without an answer')
    unless $res && $res->{status} == 101;
  my $buf = $res->{rest};
  return ($s, \$buf);
}

# One message there and back.
sub echoes {
  my ($s, $buf, $msg) = @_;
  send_all($s, client_frame(1, $msg)) or return 0;
  my $f = read_frame($s, 15, $buf);
  return $f && $f->{opcode} == 1 && $f->{payload} eq $msg;
}

# A whole client: open, echo, close; '' on success, else what went wrong.
sub one_client {
  my ($n) = @_;
  my ($s, $buf) = open_ws($n);
  return $buf unless $s;
  return 'no echo' unless echoes($s, $buf, "m$n");
  send_all($s, client_frame(8, pack('n', 1000)));
  my ($code) = read_until_close($s, 10, $buf);
  close $s;
  return defined $code && $code == 1000 ? '' : 'close: ' . ($code // 'none');
}

my $n = 0;
my @first = map { one_client(++$n) } 1 .. 8;
is_deeply(\@first, [('') x 8], 'eight clients through haproxy: each gets a 101 and its echo');
my $by = served();
my %count;
$count{ $by->{$_}{inst} // '?' }++ for 1 .. 8;
ok($count{a} && $count{b}, 'both instances served some (roundrobin)') or diag explain \%count;
is_deeply([grep { ($by->{$_}{ip} // '') ne '127.0.0.7' } 1 .. 8], [],
  "every backend request carries the client's own address, 127.0.0.7, not haproxy's");

# ---- open sessions on both, then SIGTERM to a ----
my @held;
for (1 .. 4) {
  my $id = ++$n;
  my ($s, $buf) = open_ws($id);
  push @held, { n => $id, s => $s, buf => $buf } if $s;
}
is(scalar @held, 4, 'four sessions held open');
wait_for(5, sub { my $b = served(); !grep { !$b->{ $_->{n} } } @held });
$by = served();
$_->{inst} = $by->{ $_->{n} }{inst} // '?' for @held;
my @on_a = grep { $_->{inst} eq 'a' } @held;
my @on_b = grep { $_->{inst} eq 'b' } @held;
ok(@on_a && @on_b, 'held sessions on both instances') or diag explain [map { $_->{inst} } @held];

my $t_stop = time;
kill 'TERM', $gw{a}{gw}->pid;
# From here clients go on without a pause: a's /healthz answers 503 at once and haproxy takes
# it out within a check or two, while a still serves; a's listeners close 2 s later.
my (@after, %why, %late);
my $loop_end = time + 4;
while (time < $loop_end) {
  my $id = ++$n;
  my $began = time - $t_stop;
  my $err = one_client($id);
  push @after, $id;
  $late{$id} = 1 if $began > 1.5;
  $why{$id} = $err if $err;
}
cmp_ok(scalar @after, '>=', 10, 'clients kept connecting for 4 s: ' . scalar(@after) . ' of them');
is_deeply(\%why, {}, 'no new connection was refused or failed: each got a 101 and its echo');
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw{a}{port}, Proto => 'tcp'),
  "a's proxy listener is closed after its grace");
$by = served();
my @not_b = grep { ($by->{$_}{inst} // '?') ne 'b' } grep { $late{$_} } @after;
cmp_ok(scalar keys %late, '>=', 5, 'clients from 1.5 s after the SIGTERM on: ' . scalar keys %late);
is_deeply(\@not_b, [], 'every one of them was served by b');
is_deeply([grep { ($by->{$_}{ip} // '') ne '127.0.0.7' } @after], [],
  'and b saw the client address on each');
like(slurp("$dir/haproxy.log") // '', qr{Server wsgate/a is DOWN},
  "haproxy's health check marked a down meanwhile");

# a's open sessions got 1001 and a exits; b's still work.
for my $h (@on_a) {
  my ($code) = read_until_close($h->{s}, 15, $h->{buf});
  is($code, 1001, "a's session n=$h->{n}: close 1001 at shutdown");
}
is($gw{a}{gw}->wait_exit(20), 0, 'a exits with status 0');
cmp_ok(time - $t_stop, '<', 20, 'within the shutdown bound');
for my $h (@on_b) {
  ok(echoes($h->{s}, $h->{buf}, "still $h->{n}"), "b's session n=$h->{n} still echoes");
  close $h->{s};
}
is(one_client(++$n), '', 'a new client after all this is served');
is($gw{b}{gw}->stop('TERM', 15), 0, 'b exits cleanly');
done_testing;
