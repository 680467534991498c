# trusted_proxies: on a forwarded = on route, only a peer in the list may carry an
# X-Forwarded-For (and Forwarded, X-Forwarded-Proto/-Host/-Port) that wsgate extends or keeps;
# anyone else's is replaced. The backend is python3-websockets, which reports the upgrade
# request's header fields as it received them; clients are raw sockets on IPv4 and IPv6.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use JSON::PP;
use WsgateTest;

my $PY = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with websockets'
  unless -x $PY && system($PY, '-c', 'import websockets') == 0;

my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->utf8;

# Answers every message with the upgrade request's fields, [[name, value], ...] as they came.
open my $fh, '>', "$dir/backend.py" or die;
print $fh <<'PY';
import asyncio, json, sys
import websockets

async def handler(ws, path):
    fields = [[k, v] for k, v in ws.request_headers.raw_items()]
    async for _ in ws:
        await ws.send(json.dumps(fields))

async def main():
    async with websockets.serve(handler, "127.0.0.1", int(sys.argv[1])):
        await asyncio.Future()

asyncio.run(main())
PY
close $fh;
my $bport = empty_port();
my $backend = start_program([$PY, "$dir/backend.py", $bport], port => $bport);

my $route = <<"INI";
[route fwd]
path = /fwd
backend = ws://127.0.0.1:$bport
forwarded = on
INI

my @spoof = (
  'X-Forwarded-For: 203.0.113.7, 198.51.100.1', 'X-Forwarded-For: 10.0.0.5',
  'Forwarded: for=203.0.113.7', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: app.example',
  'X-Forwarded-Port: 443', 'X-Real-IP: 203.0.113.66',
);

# Upgrades on /fwd from $host (127.0.0.1 or ::1) with the extra field lines; returns the
# backend's view of the request's fields as { lc name => [values] }, or undef.
sub seen_by_backend {
  my ($port, $host, @lines) = @_;
  my $s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port) or die "connect: $!";
  binmode $s;
  send_all($s, join("\r\n", 'GET /fwd HTTP/1.1', 'Host: gate.test', 'Upgrade: websocket',
    'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13', @lines, '', ''));
  my $res = read_http_response($s, 5) or return undef;
  return undef unless $res->{status} == 101;
  my $buf = $res->{rest};
  send_all($s, client_frame(1, 'fields?'));
  my $f = read_frame($s, 5, \$buf) or return undef;
  send_all($s, client_frame(8, pack('n', 1000)));
  my %h;
  push @{ $h{lc $_->[0]} }, $_->[1] for @{ $json->decode($f->{payload}) };
  return \%h;
}

# ---- no trusted_proxies: whatever the client says is replaced ----
{
  my $gw = wsgate($route);
  my $h = seen_by_backend($gw->port, '127.0.0.1', @spoof);
  ok($h, 'untrusted client: the backend saw the upgrade') or diag $gw->log_text;
  is_deeply($h->{'x-forwarded-for'}, ['127.0.0.1'], 'X-Forwarded-For replaced with the peer');
  is_deeply($h->{forwarded}, ['for=127.0.0.1;host="gate.test";proto=http'],
    'Forwarded replaced with wsgate\'s own element');
  is_deeply($h->{'x-forwarded-proto'}, ['http'], 'X-Forwarded-Proto replaced');
  is_deeply($h->{'x-forwarded-host'}, ['gate.test'], 'X-Forwarded-Host replaced');
  ok(!$h->{'x-forwarded-port'}, 'X-Forwarded-Port dropped');
  is_deeply($h->{'x-real-ip'}, ['127.0.0.1'], 'X-Real-IP is the peer');
}

# ---- the peer trusted (two lines, comma- and blank-separated, host bits masked) ----
{
  my $gw = wsgate($route,
    server => "trusted_proxies = 127.1.2.3/8\ntrusted_proxies = 10.0.0.0/8 ::1\n");
  my $h = seen_by_backend($gw->port, '127.0.0.1', @spoof);
  ok($h, 'trusted proxy: the backend saw the upgrade') or diag $gw->log_text;
  is_deeply($h->{'x-forwarded-for'}, ['203.0.113.7, 198.51.100.1, 10.0.0.5, 127.0.0.1'],
    'X-Forwarded-For: both field lines folded and the peer appended');
  is_deeply($h->{forwarded}, ['for=203.0.113.7, for=127.0.0.1;host="gate.test";proto=http'],
    'Forwarded extended');
  is_deeply($h->{'x-forwarded-proto'}, ['https'], "X-Forwarded-Proto: the proxy's kept");
  is_deeply($h->{'x-forwarded-host'}, ['app.example'], "X-Forwarded-Host: the proxy's kept");
  is_deeply($h->{'x-forwarded-port'}, ['443'], "X-Forwarded-Port: the proxy's kept");
  is_deeply($h->{'x-real-ip'}, ['198.51.100.1'],
    'X-Real-IP: the right-most X-Forwarded-For address that is not trusted');

  $h = seen_by_backend($gw->port, '127.0.0.1');
  is_deeply([$h && $h->{'x-forwarded-for'}, $h && $h->{'x-real-ip'}],
    [['127.0.0.1'], ['127.0.0.1']], 'a trusted peer with no chain is the client itself');

  SKIP: {
    my $v6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1);
    skip 'no IPv6 loopback', 2 unless $v6;
    close $v6;
    my $port6 = empty_port();
    my $gw6 = wsgate($route,
      server => "listen = [::1]:$port6\ntrusted_proxies = 2001:db8::/32, ::1\n");
    my $h6 = wait_for(5, sub { eval { seen_by_backend($port6, '::1', 'X-Forwarded-For: 2001:db9::7') } });
    is_deeply($h6 && $h6->{'x-forwarded-for'}, ['2001:db9::7, ::1'],
      'IPv6 peer in an IPv6 list: chain extended');
    is_deeply($h6 && $h6->{'x-real-ip'}, ['2001:db9::7'], 'and X-Real-IP is the IPv6 client');
  }
}

# ---- trusted_proxies set, the client not in it ----
{
  my $gw = wsgate($route, server => "trusted_proxies = 10.0.0.0/8, 2001:db8::/32\n");
  my $h = seen_by_backend($gw->port, '127.0.0.1', @spoof);
  ok($h, 'client outside trusted_proxies: the backend saw the upgrade') or diag $gw->log_text;
  is_deeply($h->{'x-forwarded-for'}, ['127.0.0.1'], 'X-Forwarded-For replaced');
  is_deeply($h->{forwarded}, ['for=127.0.0.1;host="gate.test";proto=http'], 'Forwarded replaced');
  is_deeply($h->{'x-forwarded-proto'}, ['http'], 'X-Forwarded-Proto replaced');
  is_deeply($h->{'x-real-ip'}, ['127.0.0.1'], 'X-Real-IP is the peer');
}

# ---- config errors name FILE:LINE and the fix ----
{
  my @bad = (
    ['trusted_proxies = 10.0.0.0/33', qr{/0 to /32}],
    ['trusted_proxies = 2001:db8::/129', qr{/0 to /128}],
    ['trusted_proxies = 10.0.0.0/8, proxy.example', qr{bad trusted_proxies address "proxy\.example"; write IPv4 or IPv6}],
    ['trusted_proxies = 10.0.0.0/8 10.0.0.300', qr{"10\.0\.0\.300"}],
  );
  for my $case (@bad) {
    my ($line, $re) = @$case;
    my ($st, $out) = check_config($route, server => "$line\n");
    isnt($st, 0, "refused: $line");
    like($out, $re, '  with the fix');
    is(named_line($out), "$line\n", '  naming its line');
  }
  my ($st, $out) = check_config($route . "trusted_proxies = 10.0.0.0/8\n");
  isnt($st, 0, 'trusted_proxies in a route is refused');
  like($out, qr/unknown key "trusted_proxies" in \[route fwd\]/, '  as a [server] key');
  ($st, $out) = check_config($route, server => "trusted_proxies = 10.1.2.3/8, ::ffff:10.0.0.0/104\n");
  is($st, 0, 'host bits and IPv4-mapped networks are accepted') or diag $out;
}

done_testing;
