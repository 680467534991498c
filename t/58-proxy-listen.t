# Incoming PROXY protocol (listen = ADDR [tls] proxy): v1 and v2 headers built here with pack,
# in one write and byte by byte, in front of WebSocket handshakes to the echo route and to a
# python3-websockets backend that records what wsgate told it of the client (X-Forwarded-For,
# X-Real-IP, Forwarded); the access log; refusals (no header, malformed, oversized, silent)
# closed without an answer and counted in /metrics; a tls proxy listener; a reload that drops
# the proxy word; and Debian's haproxy as an independent sender of v1 and v2 headers.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::SSL;
use JSON::PP;
use Time::HiRes qw(sleep time);
use WsgateTest;

my $PY = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with websockets'
  unless -x $PY && system($PY, '-c', 'import websockets') == 0;

my $dir = tempdir(CLEANUP => 1);

# ---- a client (python3-websockets) from a chosen local address: sends one message ----
my $client_py = <<'PY';
import asyncio, sys
import websockets

async def main():
    async with websockets.connect(sys.argv[1], local_addr=(sys.argv[2], 0), compression=None,
                                  close_timeout=2) as ws:
        await ws.send("hello")
        print("echo:", await ws.recv())

asyncio.run(main())
PY
{
  open my $fh, '>', "$dir/client.py" or die;
  print $fh $client_py;
  close $fh;
}
# A ws:// backend (python3-websockets): one JSON line per upgrade, then echo.
my ($backend, $bport, $heads) = ws_recorder($dir);

# The upgrade requests the backend saw, parsed.
sub backend_heads {
  my $text = slurp($heads) // '';
  return [map { decode_json($_) } grep { length } split /\n/, $text];
}

# ---- headers ----
my $V2SIG = "\r\n\r\n\0\r\nQUIT\n";
sub v2_local { $V2SIG . pack('CCn', 0x20, 0x00, 0) }
sub tlv { my ($type, $v) = @_; pack('Cn', $type, length $v) . $v }

my $UPGRADE_HEADERS = "Host: gate.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
  . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
sub upgrade { "GET $_[0] HTTP/1.1\r\n$UPGRADE_HEADERS" }

# ---- wsgate: a plain listener (the fixture's), a proxy one and a tls proxy one ----
test_pki($dir, server => 'DNS:localhost,IP:127.0.0.1');
my $pp = empty_port();
my $tp = empty_port();
my $mp = empty_port();
my $acc = "$dir/access.log";
my $routes = <<"INI";
[route echo]
path = /echo
backend = echo

[route ws]
path = /ws
backend = ws://127.0.0.1:$bport
forwarded = on

[metrics]
listen = 127.0.0.1:$mp
INI
my $gw = wsgate($routes, server => "listen = 127.0.0.1:$pp proxy\nlisten = 127.0.0.1:$tp tls proxy\n"
  . "tls_cert = $dir/server.pem\ntls_key = $dir/server.key\nproxy_protocol_timeout = 1s\n"
  . "access_log = $acc\n");

# The proxy listeners' refusals from /metrics, by reason.
sub refusals {
  my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mp, Proto => 'tcp')
    or return {};
  send_all($s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  my $res = read_http_response($s, 5) or return {};
  my %r = $res->{body} =~ /^wsgate_proxy_protocol_errors_total\{reason="(\w+)"\} (\d+)$/mg;
  return \%r;
}

# Connects to $port, writes @pieces one write each (pausing between them), reads the answer.
sub through {
  my ($port, @pieces) = @_;
  my $s = raw_connect($port);
  for my $i (0 .. $#pieces) {
    send_all($s, $pieces[$i]);
    sleep 0.01 if $i < $#pieces;
  }
  my $res = read_http_response($s, 5);
  return ($s, $res);
}

# Opens /echo on the proxy port after $header, echoes one message; returns the 101 status.
sub echo_after {
  my ($header, %o) = @_;
  my @pieces = $o{split} ? (split(//, $header), upgrade('/echo')) : ($header . upgrade('/echo'));
  my ($s, $res) = through($o{port} // $pp, @pieces);
  return undef unless $res && $res->{status} == 101;
  my $buf = $res->{rest};
  send_all($s, client_frame(1, $o{msg} // 'ping'));
  my $f = read_frame($s, 5, \$buf);
  send_all($s, client_frame(8, pack('n', 1000)));
  read_until_close($s, 5, \$buf);
  close $s;
  return $f && $f->{payload} eq ($o{msg} // 'ping') ? 101 : 'no echo';
}

# ---- valid headers ----
is(echo_after(proxy_v1('192.0.2.7', 5555, '198.51.100.1', 443), msg => 'v1'), 101,
  'v1 TCP4 header and upgrade in one write: 101 and an echo');
ok(wait_for(5, sub { (slurp($acc) // '') =~ m{^\S+ 192\.0\.2\.7:5555 "/echo" .*status=101}m }),
  "the access log names the header's source, not the balancer");
is(echo_after(proxy_v2('192.0.2.8', 6000, '198.51.100.1', 443, tlv(0x02, 'gate.test')), msg => 'v2'),
  101, 'v2 INET header with a TLV: 101 and an echo');
ok(wait_for(5, sub { (slurp($acc) // '') =~ m{^\S+ 192\.0\.2\.8:6000 "/echo" }m }),
  'v2: the access log names the source');
is(echo_after(proxy_v1('192.0.2.9', 7000, '198.51.100.1', 443), split => 1, msg => 'split v1'), 101,
  'a v1 header written one byte at a time: 101');
is(echo_after(proxy_v2('192.0.2.10', 7001, '198.51.100.1', 443), split => 1, msg => 'split v2'),
  101, 'a v2 header written one byte at a time: 101');
ok(wait_for(5, sub { (slurp($acc) // '') =~ m{^\S+ 192\.0\.2\.10:7001 "/echo" }m }),
  'and its source is the client');

# To the ws:// backend: what wsgate tells it of the client.
sub ws_after {
  my ($header, $path) = @_;
  my ($s, $res) = through($pp, $header . upgrade($path));
  my $status = $res && $res->{status};
  close $s;
  my ($h) = grep { $_->{path} eq $path } @{ backend_heads() };
  wait_for(5, sub { ($h) = grep { $_->{path} eq $path } @{ backend_heads() }; $h });
  return ($status, $h ? $h->{headers} : {});
}
{
  my ($st, $h) = ws_after(proxy_v2('203.0.113.9', 4242, '198.51.100.1', 443), '/ws?v2');
  is($st, 101, 'v2 to a ws:// backend: 101');
  is($h->{'x-forwarded-for'}, '203.0.113.9', 'X-Forwarded-For: the PROXY source');
  is($h->{'x-real-ip'}, '203.0.113.9', 'X-Real-IP: the PROXY source');
  like($h->{forwarded} // '', qr/^for=203\.0\.113\.9;/, 'Forwarded: for= the PROXY source');
}
{
  my ($st, $h) = ws_after(proxy_v1('198.51.100.77', 1, '198.51.100.1', 443), '/ws?v1');
  is($st, 101, 'v1 to a ws:// backend: 101');
  is($h->{'x-real-ip'}, '198.51.100.77', 'v1: X-Real-IP is the PROXY source');
}
{
  my ($st, $h) = ws_after(proxy_v2('2001:db8::9', 9, '2001:db8::1', 443), '/ws?v6');
  is($st, 101, 'v2 INET6 to a ws:// backend: 101');
  is($h->{'x-forwarded-for'}, '2001:db8::9', 'X-Forwarded-For: the IPv6 source');
  like($h->{forwarded} // '', qr/^for="\[2001:db8::9\]";/, 'Forwarded: the IPv6 source, quoted');
}
{
  my ($st, $h) = ws_after(v2_local(), '/ws?local');
  is($st, 101, 'v2 LOCAL: 101');
  is($h->{'x-real-ip'}, '127.0.0.1', 'LOCAL keeps the socket address');
  ($st, $h) = ws_after("PROXY UNKNOWN\r\n", '/ws?unknown');
  is($h->{'x-real-ip'}, '127.0.0.1', 'v1 UNKNOWN keeps the socket address');
}

# ---- refusals: closed without an answer, and counted ----
# Sends $bytes (after waiting $pause), expects a close with nothing read within $secs.
sub refused {
  my ($bytes, $secs) = @_;
  my $s = raw_connect($pp);
  send_all($s, $bytes) if length $bytes;
  my $t0 = time;
  my $closed = tcp_closed($s, '', $secs // 5);
  my $took = time - $t0;
  close $s;
  return ($closed, $took);
}
my $before = refusals();
{
  my ($closed) = refused(upgrade('/echo'));
  ok($closed, 'a client without a header: closed, no 101 and no HTTP answer at all');
  ($closed) = refused("PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n" . upgrade('/echo'));
  ok($closed, 'a malformed v1 header (two spaces): closed without an answer');
  ($closed) = refused($V2SIG . pack('CCn', 0x21, 0x11, 0xFFFF) . ('x' x 100));
  ok($closed, 'a v2 length far over the limit: closed at once');
  my $took;
  ($closed, $took) = refused('', 10);
  ok($closed, 'a silent connection is closed');
  cmp_ok($took, '>=', 0.5, '... not before proxy_protocol_timeout');
  cmp_ok($took, '<', 5, '... and well within a generous bound of its 1s');
  ($closed, $took) = refused('PROX', 10);
  ok($closed && $took < 5, 'a header that stops half way: closed at the deadline');
}
my $after;
wait_for(5, sub {
  $after = refusals();
  ($after->{timeout} // 0) - ($before->{timeout} // 0) >= 2;
});
is(($after->{malformed} // 0) - ($before->{malformed} // 0), 2,
  'metrics: no header and the malformed one, reason="malformed"');
is(($after->{oversized} // 0) - ($before->{oversized} // 0), 1, 'metrics: reason="oversized"');
is(($after->{timeout} // 0) - ($before->{timeout} // 0), 2, 'metrics: reason="timeout"');
like($gw->log_text, qr/127\.0\.0\.1:\d+: proxy listener: closing, malformed: no PROXY protocol signature/,
  'the error log names the socket peer and the reason');
is(echo_after(proxy_v1('192.0.2.11', 1, '198.51.100.1', 443)), 101, 'and the listener still serves');

# ---- a tls proxy listener: the header, then the TLS handshake on the same socket ----
{
  my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $tp, Proto => 'tcp')
    or die "connect: $!";
  send_all($s, proxy_v2('192.0.2.44', 4444, '198.51.100.1', 443));
  my $ok = IO::Socket::SSL->start_SSL($s, SSL_ca_file => "$dir/ca.pem",
    SSL_verifycn_name => 'localhost', SSL_verifycn_scheme => 'http', Timeout => 5);
  ok($ok, 'tls proxy: the TLS handshake after the v2 header succeeds')
    or diag "SSL: $SSL_ERROR";
  if ($ok) {
    print $s upgrade('/echo');
    my $res = read_http_response($s, 5);
    is($res && $res->{status}, 101, 'tls proxy: 101 over TLS');
    close $s;
    ok(wait_for(5, sub { (slurp($acc) // '') =~ m{^\S+ 192\.0\.2\.44:4444 "/echo" .*tls=TLSv1}m }),
      'tls proxy: the access log has the PROXY source and the TLS version');
  }
}

# ---- haproxy as the sender: send-proxy-v2 and send-proxy, a client from 127.0.0.7 ----
SKIP: {
  skip 'needs /usr/sbin/haproxy', 6 unless -x '/usr/sbin/haproxy';
  my ($h2, $h1) = (empty_port(), empty_port());
  my $cfg = "$dir/haproxy.cfg";
  open my $fh, '>', $cfg or die;
  print $fh <<"CFG";
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend v2
  bind 127.0.0.1:$h2
  default_backend gw_v2
backend gw_v2
  server gw 127.0.0.1:$pp send-proxy-v2
frontend v1
  bind 127.0.0.1:$h1
  default_backend gw_v1
backend gw_v1
  server gw 127.0.0.1:$pp send-proxy
CFG
  close $fh;
  my $hap = start_program(['/usr/sbin/haproxy', '-db', '-f', $cfg], port => $h2,
    out => "$dir/haproxy.log");
  for ([v2 => $h2], [v1 => $h1]) {
    my ($v, $port) = @$_;
    my ($rc, $out) = run_command(20, $PY, "$dir/client.py", "ws://127.0.0.1:$port/ws?hap$v",
      '127.0.0.7');
    is($rc, 0, "haproxy send-proxy" . ($v eq 'v2' ? '-v2' : '') . ": the python client is served")
      or diag $out;
    like($out, qr/^echo: hello$/m, "$v: its message comes back through both proxies");
    my $h;
    wait_for(5, sub { ($h) = grep { $_->{path} eq "/ws?hap$v" } @{ backend_heads() }; $h });
    is($h && $h->{headers}{'x-real-ip'}, '127.0.0.7',
      "$v: the backend sees the client's own address, not haproxy's");
  }
}

# ---- a reload that drops the proxy word: plain clients are served there ----
{
  my $conf = slurp($gw->{conf});
  $conf =~ s/^listen = 127\.0\.0\.1:$pp proxy$/listen = 127.0.0.1:$pp/m or die 'no proxy line';
  open my $fh, '>', $gw->{conf} or die;
  print $fh $conf;
  close $fh;
  kill 'HUP', $gw->pid;
  ok(wait_for(10, sub { $gw->log_text =~ /SIGHUP: reloaded/ }), 'reload without the proxy word');
  my ($s, $buf, $res) = ws_open($pp, '/echo');
  is($res && $res->{status}, 101, 'the same socket now serves a client without a header');
  close $s;
}

is($gw->stop('TERM', 15), 0, 'wsgate exits cleanly');
done_testing;
