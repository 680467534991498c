# TLS listeners (wss://): a throwaway CA and server certificate made with the openssl CLI; checks
# the protocol versions and ALPN with openssl s_client, echo over wss:// with python3-websockets
# and Mojo::UserAgent (on the echo route, a TCP bridge and a ws:// proxy route), a hybi-00
# client's wss:// Location, forwarding headers saying https, the handshake_timeout for a client
# that never starts TLS, plain HTTP on the TLS port, and the config errors (a tls listener
# without a certificate, a key that does not match it).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use WsgateMojo;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::SSL;
use POSIX ();
use Protocol::WebSocket::Handshake::Client;
use Time::HiRes qw(sleep time);
use WsgateTest;

my $PY = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with websockets'
  unless -x $PY && system($PY, '-c', 'import websockets') == 0;
plan skip_all => 'needs the openssl command'
  unless system('openssl version >/dev/null 2>&1') == 0;

my $dir = tempdir(CLEANUP => 1);

# Runs a command with a 60 s limit; dies with its output if it fails.
sub run_cmd {
  my ($rc, $out) = run_command(60, @_);
  die "@_ failed:\n$out" if $rc;
}

# ---- a throwaway PKI: a CA, a server certificate for localhost/127.0.0.1, another key ----

test_pki($dir, srv => 'DNS:localhost,IP:127.0.0.1');
run_cmd('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
  '-out', "$dir/other.key");
ok(-s "$dir/srv.pem" && -s "$dir/other.key", 'PKI made');

my $tls_server = "tls_cert = $dir/srv.pem\ntls_key = $dir/srv.key\nhandshake_timeout = 2s\n";
my $routes = <<'INI';
[route echo]
path = /echo
backend = echo
type = text
INI

my $gw = wsgate($routes, tls => 1, server => $tls_server);
my $port = $gw->port;

# The same clients also reach a TCP bridge and a ws:// proxy route over TLS: a TCP echo
# server, and a second (plain) wsgate whose echo route stands in for a WebSocket backend.
my $tcp_echo = tcp_echo_server();
my $ws_backend = wsgate("[route echo]\npath = /echo\nbackend = echo\ntype = text\n");
my $gw3 = wsgate(<<"INI", tls => 1, server => $tls_server);
[route bridge]
path = /bridge
backend = tcp://127.0.0.1:${\ $tcp_echo->port }
type = binary

[route proxy]
path = /proxy
backend = ws://127.0.0.1:${\ $ws_backend->port }/echo
INI

# ---- protocol versions and ALPN ----

sub s_client {
  my @args = @_;
  return run_command(10, 'openssl', 's_client', '-connect', "127.0.0.1:$port",
    '-CAfile', "$dir/ca.pem", '-servername', 'localhost', @args);
}

for my $v (qw(tls1 tls1_1)) {
  my ($rc, $out) = s_client("-$v", '-cipher', 'DEFAULT:@SECLEVEL=0');
  ok($rc != 0 || $out !~ /Verification: OK|Protocol\s*:\s*TLSv1(\.1)?\b/, "-$v refused")
    or diag $out;
}
for my $v (qw(tls1_2 tls1_3)) {
  my ($rc, $out) = s_client("-$v");
  my $want = $v eq 'tls1_2' ? 'TLSv1.2' : 'TLSv1.3';
  like($out, qr/(Protocol\s*:|New, )\s*\Q$want\E/, "-$v accepted") or diag $out;
  like($out, qr/Verify return code: 0 \(ok\)/, "-$v: the chain verifies against the test CA");
}
{
  my ($rc, $out) = s_client('-alpn', 'http/1.1');
  like($out, qr{ALPN protocol: http/1\.1}, 'ALPN selects http/1.1') or diag $out;
}
{
  # The client offers OpenSSL's order (AES-256 first); the server's order picks.
  my ($rc, $out) = s_client('-tls1_3');
  like($out, qr/Cipher is TLS_AES_128_GCM_SHA256/, 'TLS 1.3: AES-128-GCM first by default')
    or diag $out;
  my $g2 = wsgate($routes, tls => 1,
    server => "${tls_server}tls_ciphersuites = TLS_CHACHA20_POLY1305_SHA256\n");
  ($rc, $out) = run_command(10, 'openssl', 's_client', '-connect', '127.0.0.1:' . $g2->port,
    '-CAfile', "$dir/ca.pem", '-servername', 'localhost', '-tls1_3');
  like($out, qr/Cipher is TLS_CHACHA20_POLY1305_SHA256/, 'tls_ciphersuites sets the TLS 1.3 suites')
    or diag $out;
}

# ---- python3-websockets over wss:// ----

my $client_py = <<'PY';
import asyncio, ssl, sys
import websockets

async def main(url, ca):
    ctx = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, ssl=ctx) as ws:
        await ws.send("hello tls")
        text = await ws.recv()
        if isinstance(text, bytes):  # a binary bridge answers in binary frames
            text = text.decode()
        await ws.send(b"\x00\x01\xfe\xff")
        data = await ws.recv()
        print("text=%s binary=%s" % (text, data.hex() if isinstance(data, bytes) else "str:" + data))

asyncio.run(main(sys.argv[1], sys.argv[2]))
PY
{
  my ($rc, $out) = run_command(20, $PY, '-c', $client_py, "wss://127.0.0.1:$port/echo",
    "$dir/ca.pem");
  is($rc, 0, 'python3-websockets: wss:// session ran') or diag $out;
  like($out, qr/text=hello tls/, 'python3-websockets: text echoed over TLS');
  like($out, qr/binary=0001feff/, 'python3-websockets: binary message echoed over TLS');
  for my $path ('/bridge', '/proxy') {
    ($rc, $out) = run_command(20, $PY, '-c', $client_py, "wss://127.0.0.1:${\ $gw3->port }$path",
      "$dir/ca.pem");
    like($out, qr/text=hello tls binary=0001feff/,
      "python3-websockets: text and binary through $path over TLS") or diag $out;
  }
}

# ---- Mojo::UserAgent over wss:// ----
{
  my $ua = Mojo::UserAgent->new(ca => "$dir/ca.pem", connect_timeout => 5);
  # Sends $msg (text, or {binary => ...}) on $url; returns the first answer, or undef and why.
  my $echo = sub {
    my ($url, $msg) = @_;
    my ($got, $err, $done);
    $ua->websocket($url => sub {
      my ($ua, $tx) = @_;
      unless ($tx->is_websocket) {
        $err = $tx->res->error ? $tx->res->error->{message} : 'no websocket';
        $done = 1;
        return;
      }
      $tx->on(message => sub { $got = $_[1]; $tx->finish });
      $tx->on(finish => sub { $done = 1 });
      $tx->send($msg);
    });
    run_until(10, sub { $done });
    return ($got, $err // ($done ? '' : 'timeout'));
  };
  my ($got, $err) = $echo->("wss://127.0.0.1:$port/echo", 'mojo over tls');
  is($got, 'mojo over tls', 'Mojo::UserAgent: echoed over wss://') or diag $err;
  for my $path ('/bridge', '/proxy') {
    ($got, $err) = $echo->("wss://127.0.0.1:${\ $gw3->port }$path", {binary => "mojo \x00\xff $path"});
    is($got, "mojo \x00\xff $path", "Mojo::UserAgent: binary through $path over wss://") or diag $err;
  }
}

# ---- hybi-00 over TLS: the Location says wss:// ----
{
  my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $port,
    SSL_ca_file => "$dir/ca.pem", SSL_verifycn_name => 'localhost', Timeout => 5);
  ok($s, 'hybi-00: TLS connection made') or diag $IO::Socket::SSL::SSL_ERROR;
  my $hs = Protocol::WebSocket::Handshake::Client->new(url => "wss://127.0.0.1:$port/echo",
    version => 'draft-ietf-hybi-00');
  my $buf = '';
  if ($s) {
    print $s $hs->to_string;
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 5;
    eval {
      while ($buf !~ /\r\n\r\n.{16}/s) {
        my $n = sysread($s, $buf, 4096, length $buf);
        last unless $n;
      }
    };
    alarm 0;
  }
  like($buf, qr{^HTTP/1\.1 101 }, 'hybi-00 over TLS: 101');
  like($buf, qr{\r\nSec-WebSocket-Location: wss://127\.0\.0\.1:$port/echo\r\n}i,
    'hybi-00 over TLS: Sec-WebSocket-Location: wss://');
  ok($hs->parse($buf) && $hs->is_done, 'hybi-00 over TLS: Protocol::WebSocket accepts the answer')
    or diag $hs->error;
}

# ---- the read limit holds over TLS: a header block that never ends gets 431 ----
{
  my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $port,
    SSL_ca_file => "$dir/ca.pem", SSL_verifycn_name => 'localhost', Timeout => 5);
  ok($s, 'header bomb: TLS connection made');
  my $answer = '';
  if ($s) {
    local $SIG{ALRM} = sub { die "timeout\n" };
    local $SIG{PIPE} = 'IGNORE';
    alarm 10;
    eval {
      print $s "GET /echo HTTP/1.1\r\nHost: x\r\n";
      # 256 KiB of headers, far past the 8 KiB head limit; wsgate answers and closes early.
      for (1 .. 4096) { print $s "X-Pad: " . ('a' x 56) . "\r\n" or last }
    };
    eval {
      while (1) {
        my $n = sysread($s, $answer, 4096, length $answer);
        last unless $n;
      }
    };
    alarm 0;
  }
  like($answer, qr{^HTTP/1\.1 431 }, 'header bomb over TLS: 431, the read limit works');
}

# ---- clients that do not speak TLS ----
{
  my $s = raw_connect($port);
  my $t0 = time;
  ok(tcp_closed($s, undef, 8), 'a client that sends nothing is closed');
  my $took = time - $t0;
  ok($took >= 1.5 && $took < 6, sprintf('... at handshake_timeout (2s; took %.1fs)', $took));
}
{
  my $s = raw_connect($port);
  send_all($s, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n");
  ok(tcp_closed($s, undef, 5), 'plain HTTP on the TLS port is closed');
  like($gw->log_text, qr/TLS handshake failed/, '... with the reason logged');
  my ($rc, $out) = run_command(20, $PY, '-c', $client_py, "wss://127.0.0.1:$port/echo",
    "$dir/ca.pem");
  like($out, qr/text=hello tls/, 'wsgate still serves TLS clients afterwards');
}

# ---- plain and tls listeners side by side ----
{
  my $plain = empty_port();
  my $g2 = wsgate($routes, tls => 1,
    server => $tls_server . "listen = 127.0.0.1:$plain\n");
  my $c = ws_open($plain, '/echo');
  ok($c, 'a plain listener beside a tls one still speaks ws://');
  my ($rc, $out) = run_command(20, $PY, '-c', $client_py, 'wss://127.0.0.1:' . $g2->port . '/echo',
    "$dir/ca.pem");
  like($out, qr/text=hello tls/, '... and the tls one wss://');
}

# ---- forwarding headers: a ws:// backend learns the client came over https ----
{
  my $file = "$dir/fwd.rec";
  my $rec = recorder($file);
  my $g3 = wsgate(<<"INI", tls => 1, server => $tls_server);
[route fwd]
path = /fwd
backend = ws://127.0.0.1:@{[$rec->port]}/fwd
forwarded = on
INI
  my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $g3->port,
    SSL_ca_file => "$dir/ca.pem", SSL_verifycn_name => 'localhost', Timeout => 5);
  ok($s, 'forwarded: TLS connection made');
  print $s "GET /fwd HTTP/1.1\r\nHost: gate.test\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . "Sec-WebSocket-Version: 13\r\n\r\n" if $s;
  my $req = wait_for(5, sub { my $r = slurp($file); $r && $r =~ /\r\n\r\n/ ? $r : undef });
  like($req // '', qr/\r\nX-Forwarded-Proto: https\r\n/i, 'forwarded: X-Forwarded-Proto: https');
  like($req // '', qr/\r\nForwarded: [^\r]*proto=https/i, 'forwarded: Forwarded proto=https');
}

# ---- config errors, reported by wsgate -t ----

# Runs wsgate -t on [server] lines plus the routes; returns (exit status, output).
sub check_server_config {
  my ($server, %opt) = @_;
  return check_config($routes, server => $server, %opt);
}
{
  my ($st, $out) = check_server_config('', tls => 1);
  ok(defined $st && $st != 0, 'a tls listener without tls_cert fails wsgate -t');
  like($out, qr{wsgate\.ini:2: listen 127\.0\.0\.1:\d+ tls needs a certificate; set tls_cert},
    '... naming FILE:LINE of the listen line and the fix') or diag $out;
}
{
  my ($st, $out) = check_server_config("tls_cert = $dir/srv.pem\ntls_key = $dir/other.key\n", tls => 1);
  ok(defined $st && $st != 0, 'a key that does not match the certificate fails wsgate -t');
  like($out, qr{wsgate\.ini:\d+: the private key \S*other\.key does not match the certificate},
    '... with a clear error') or diag $out;
}
{
  my ($st, $out) = check_server_config("tls_cert = $dir/missing.pem\ntls_key = $dir/srv.key\n",
    tls => 1);
  ok(defined $st && $st != 0, 'a missing certificate file fails wsgate -t');
  like($out, qr{cannot load the certificate chain \S*missing\.pem: .*No such file}i,
    "... naming the path and OpenSSL's reason") or diag $out;
}
{
  my ($st, $out) = check_server_config($tls_server, tls => 1);
  is($st, 0, 'a good certificate and key pass wsgate -t') or diag $out;
}

# ---- large records and idle cost (TlsTransport) ----

# A 1 MiB binary message each way over wss://: the TLS transport's reads of whole records and
# writes of a record at a time carry it intact.
{
  my $big_py = <<'PY';
import asyncio, ssl, sys
import websockets

async def main(url, ca):
    ctx = ssl.create_default_context(cafile=ca)
    data = bytes((i * 7 + i // 251) & 0xFF for i in range(1 << 20))
    async with websockets.connect(url, ssl=ctx, max_size=None, compression=None) as ws:
        await ws.send(data)
        back = await ws.recv()
        print("same=%s len=%d" % (back == data, len(back)))

asyncio.run(main(sys.argv[1], sys.argv[2]))
PY
  my ($rc, $out) = run_command(30, $PY, '-c', $big_py, "wss://127.0.0.1:$port/echo", "$dir/ca.pem");
  like($out, qr/same=True len=1048576/, 'a 1 MiB binary message comes back intact over wss://')
    or diag $out;
}

# Idle TLS connections hold neither OpenSSL's record buffers nor evbuffers: 200 upgraded, idle
# wss:// sessions grow wsgate's RSS by well under 40 KiB each. A first round warms the
# allocator (and ASan's quarantine under make sanitize).
{
  my $g = wsgate($routes, tls => 1, server => $tls_server);
  # An upgraded wss:// connection to /echo, or undef.
  my $open = sub {
    my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $g->port,
      SSL_ca_file => "$dir/ca.pem", SSL_verifycn_name => 'localhost', Timeout => 5) or return;
    print $s "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    my $head = '';
    while ($head !~ /\r\n\r\n/) { sysread($s, $head, 4096, length $head) or return }
    return $head =~ m{^HTTP/1\.1 101 } ? $s : undef;
  };
  my @warm = grep { defined } map { $open->() } 1 .. 100;
  @warm = ();
  sleep 0.5;
  my $before = rss_kib($g->pid);
  my @idle = grep { defined } map { $open->() } 1 .. 200;
  is(scalar @idle, 200, '200 idle wss:// sessions open');
  sleep 1;
  my $per = (rss_kib($g->pid) - $before) / 200;
  ok($per < 40, sprintf('... and cost %.1f KiB of RSS each (bound: 40)', $per));
}

done_testing;
