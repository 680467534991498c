# wss:// proxy mode: wsgate speaks TLS to a WebSocket backend. A throwaway PKI made with the
# openssl CLI (a test CA, a server certificate for localhost/127.0.0.1, one for the wrong name,
# a self-signed one) and python3-websockets TLS servers; checks the verified 101 and echo through
# python3-websockets and Mojo::UserAgent clients, SNI, every rejection as a 502 with the reason in
# the log, tls_verify = off, forwarding headers, request-target rewriting, a backend close code,
# and the config checks for tls_ca and tls_verify.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use WsgateMojo;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);
use WsgateTest;

my $PY = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with websockets'
  unless -x $PY && system($PY, '-c', 'import websockets') == 0;
plan skip_all => 'needs the openssl command'
  unless system('openssl version >/dev/null 2>&1') == 0;

my $T0 = time;
my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->utf8->canonical;

# ---- helpers ----

sub port_open {
  my ($port) = @_;
  return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp') ? 1 : 0;
}

# The first log line about $path, or ''.
sub log_line {
  my ($gw, $path) = @_;
  my ($line) = grep { index($_, "\"$path\"") >= 0 } split /\n/, $gw->log_text;
  return $line // '';
}

# ---- a throwaway PKI ----

test_pki($dir, good => 'DNS:localhost,IP:127.0.0.1', wrong => 'DNS:other.example',
  self => ['DNS:localhost,IP:127.0.0.1', 'self']);
my ($vrc, $vout) = run_command(60, 'openssl', 'verify', '-CAfile', "$dir/ca.pem", "$dir/good.pem",
  "$dir/wrong.pem");
die "openssl verify failed:\n$vout" if $vrc;
ok(-s "$dir/$_.pem", "PKI: $_.pem made") for qw(ca good wrong self);
open my $junk, '>', "$dir/junk.pem" or die;
print $junk "this is not a certificate\n";
close $junk;

# ---- the backends: websockets over TLS, one server per certificate ----
#
# server.py PORT,CERT,KEY ...: echoes every message. The text "headers" gets JSON
# {path, headers: [[name, value], ...], sni, subprotocol}; "bye" closes with 4000 "tls bye";
# "drop" sends "dropping" and closes the TLS connection without a close frame.
my $server_py = <<'PY';
import asyncio, json, os, ssl, sys
import websockets

sni = {}

def remember_sni(sslobj, name, ctx):
    sni[id(sslobj)] = name

async def handler(ws, path):
    try:
        async for msg in ws:
            if msg == "headers":
                sslobj = ws.transport.get_extra_info("ssl_object")
                await ws.send(json.dumps({
                    "path": path,
                    "headers": [[k, v] for k, v in ws.request_headers.raw_items()],
                    "sni": sni.get(id(sslobj)),
                    "subprotocol": ws.subprotocol}))
            elif msg == "bye":
                await ws.close(4000, "tls bye")
            elif msg == "drop":
                await ws.send("dropping")
                ws.transport.close()
            else:
                await ws.send(msg)
    except websockets.ConnectionClosed:
        pass

async def orphan_guard(parent):
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(0)

async def main():
    servers = []
    for spec in sys.argv[1:]:
        port, cert, key = spec.split(",")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.sni_callback = remember_sni
        servers.append(await websockets.serve(handler, "127.0.0.1", int(port), ssl=ctx,
                                              subprotocols=["chat.v1"], max_size=None,
                                              ping_interval=None, close_timeout=2))
    await orphan_guard(int(os.environ["WSGATE_TEST_PARENT"]))

asyncio.run(main())
PY

my %port = map { $_ => empty_port() } qw(good wrong self);
local $ENV{WSGATE_TEST_PARENT} = $$;
my $servers = start_program([$PY, '-c', $server_py,
  map { "$port{$_},$dir/$_.pem,$dir/$_.key" } sort keys %port], out => "$dir/server.log");
ok(wait_for(10, sub { !grep { !port_open($port{$_}) } keys %port }),
  'the three TLS websockets servers listen')
  or BAIL_OUT("websockets servers did not start:\n" . (slurp("$dir/server.log") // ''));

# Not TLS at all: a TCP echo server, and one that accepts and never answers.
my $plain = tcp_echo_server();
my $stall = start_server(sub { sleep 30 });

# ---- a client: websockets, unmodified ----
#
# client.py URL SIZES: echoes text and binary of each size, prints JSON
# {subprotocol, extensions, echo: {"text 5": true, ...}, close_code} or {status} when refused.
my $client_py = <<'PY';
import asyncio, json, sys
import websockets

url, sizes = sys.argv[1], [int(n) for n in sys.argv[2].split(",")]

def text(n):
    unit = "tls \u00e9\u20ac\U0001F510 "
    return (unit * (n // len(unit) + 1))[:n]

def binary(n):
    return bytes((i * 13 + n) & 0xFF for i in range(256)) * (n // 256) + bytes(n % 256)

async def main():
    out = {"echo": {}}
    try:
        async with websockets.connect(url, max_size=None, ping_interval=None, close_timeout=2,
                                      subprotocols=["chat.v1"]) as ws:
            out["subprotocol"] = ws.subprotocol
            out["extensions"] = [type(e).__name__ for e in ws.extensions]
            for n in sizes:
                for kind, data in (("text", text(n)), ("binary", binary(n))):
                    await ws.send(data)
                    back = await ws.recv()
                    out["echo"]["%s %d" % (kind, n)] = back == data
        out["close_code"] = ws.close_code
    except websockets.InvalidStatusCode as e:
        out["status"] = e.status_code
    print(json.dumps(out))

asyncio.run(asyncio.wait_for(main(), 20))
PY

sub python_client {
  my ($url, @sizes) = @_;
  open(my $ph, '-|', 'timeout', '25', $PY, '-c', $client_py, $url, join(',', @sizes))
    or die "python3: $!";
  local $/;
  my $out = <$ph>;
  close $ph;
  return eval { $json->decode($out) } // { error => $out // '' };
}

# ---- the gateway ----

my $ini = <<"INI";
[route ip]
path = /tls/ip
backend = wss://127.0.0.1:$port{good}
tls_ca = $dir/ca.pem

[route name]
path = /tls/name
backend = wss://localhost:$port{good}
tls_ca = $dir/ca.pem

[route slash]
path = /tls/slash/*
backend = wss://localhost:$port{good}/
tls_ca = $dir/ca.pem

[route rewrite]
path = /tls/rewrite/*
backend = wss://localhost:$port{good}/socket/v1
tls_ca = $dir/ca.pem

[route fwd]
path = /tls/fwd
backend = wss://127.0.0.1:$port{good}
tls_ca = $dir/ca.pem
forwarded = on

[route wrong-ip]
path = /tls/wrong-ip
backend = wss://127.0.0.1:$port{wrong}
tls_ca = $dir/ca.pem

[route wrong-name]
path = /tls/wrong-name
backend = wss://localhost:$port{wrong}
tls_ca = $dir/ca.pem
tls_verify = on

[route self]
path = /tls/self
backend = wss://localhost:$port{self}
tls_ca = $dir/ca.pem

[route system]
path = /tls/system
backend = wss://localhost:$port{good}

[route noverify]
path = /tls/noverify
backend = wss://localhost:$port{wrong}
tls_verify = off

[route noverify-self]
path = /tls/noverify-self
backend = wss://127.0.0.1:$port{self}
tls_verify = off

[route plain]
path = /tls/plain
backend = wss://127.0.0.1:@{[ $plain->port ]}
tls_ca = $dir/ca.pem

[route stall]
path = /tls/stall
backend = wss://127.0.0.1:@{[ $stall->port ]}
tls_ca = $dir/ca.pem
connect_timeout = 500ms
INI
my $gw = wsgate($ini);
my $gport = $gw->port;

# ---- verified sessions: python3-websockets ----

my @sizes = (0, 1, 125, 126, 65535, 65536, 1 << 20);
for my $path ('/tls/ip', '/tls/name') {
  my $r = python_client("ws://127.0.0.1:$gport$path", @sizes);
  ok(!$r->{status} && !$r->{error}, "python3-websockets: $path opens over wss")
    or diag explain $r;
  is($r->{subprotocol}, 'chat.v1', "python3-websockets: $path: the backend's subprotocol arrives");
  is_deeply($r->{extensions}, ['PerMessageDeflate'],
    "python3-websockets: $path: permessage-deflate negotiated end to end over wss");
  for my $n (@sizes) {
    for my $kind (qw(text binary)) {
      ok($r->{echo}{"$kind $n"}, "python3-websockets: $path: $kind echo of $n " .
        ($kind eq 'text' ? 'characters' : 'bytes'));
    }
  }
  is($r->{close_code}, 1000, "python3-websockets: $path closes with 1000");
}

# ---- verified sessions: Mojo::UserAgent ----

sub pattern {
  my ($n, $seed) = @_;
  my $block = join '', map { chr(($_ * 7 + $seed) % 256) } 0 .. 4095;
  return substr($block x (int($n / 4096) + 1), 0, $n);
}

for my $path ('/tls/ip', '/tls/name') {
  my $st = mojo_ws("ws://127.0.0.1:$gport$path");
  ok($st->{opened}, "Mojo: $path opens over wss") or diag "failed: " . ($st->{failed} // '?');
  SKIP: {
    skip "Mojo: $path did not open", 2 * @sizes + 2 unless $st->{opened};
    my $tx = $st->{tx};
    # Mojo offers no extension: this is the uncompressed path (python3-websockets took deflate).
    is($tx->res->headers->sec_websocket_extensions, undef,
      "Mojo: $path: no extension offered, none in the 101");
    my @got;
    $tx->on(text => sub { push @got, [text => $_[1]] });
    $tx->on(binary => sub { push @got, [binary => $_[1]] });
    for my $n (@sizes) {
      my $txt = substr(("tls \xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x90 " x (int($n / 14) + 1)), 0, $n);
      $txt =~ s/[\x80-\xff]+\z// if $n;    # no character cut at the end
      $txt .= 'x' x ($n - length $txt);
      for my $m ([text => $txt], [binary => pattern($n, $n)]) {
        my ($kind, $data) = @$m;
        @got = ();
        $tx->send({ $kind => $data });
        run_until(15, sub { @got });
        ok(@got == 1 && $got[0][0] eq $kind && $got[0][1] eq $data,
          "Mojo: $path: $kind echo of $n bytes");
      }
    }
    $tx->finish(1000);
    ok(run_until(5, sub { mojo_gone($st) }) && $st->{code} == 1000, "Mojo: $path closes with 1000");
  }
}

# ---- what the backend sees ----

# Opens $path on a raw socket (%h as for ws_open), asks the backend for "headers"; returns
# (status, decoded JSON or undef).
sub backend_view {
  my ($path, %h) = @_;
  my ($s, $buf, $res) = ws_open($gport, $path, %h);
  return (0, undef) unless $res;
  return ($res->{status}, undef) unless $res->{status} == 101;
  send_all($s, client_frame(1, 'headers'));
  my $f = read_frame($s, 5, $buf);
  my $view = $f && $f->{opcode} == 1 ? eval { $json->decode($f->{payload}) } : undef;
  send_all($s, client_frame(8, pack('n', 1000)));
  read_until_close($s, 5, $buf);
  return (101, $view);
}

sub header_values {
  my ($view, $name) = @_;
  return [map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $view->{headers} || [] }];
}

{
  my ($st, $v) = backend_view('/tls/ip?q=7&r=8');
  is($st, 101, 'wss by IP: 101');
  is($v->{path}, '/tls/ip?q=7&r=8', 'wss by IP: no backend path sends the client target unchanged');
  is_deeply(header_values($v, 'Host'), ["127.0.0.1:$port{good}"], 'wss by IP: Host is the backend');
  is($v->{sni}, undef, 'wss by IP: no SNI for an IP literal');
  is_deeply(header_values($v, 'X-Forwarded-For'), [], 'wss by IP: no forwarding headers by default');
}
{
  my ($st, $v) = backend_view('/tls/name');
  is($st, 101, 'wss by name: 101');
  is($v->{sni}, 'localhost', 'wss by name: SNI carries the host name');
  is_deeply(header_values($v, 'Host'), ["localhost:$port{good}"], 'wss by name: Host is the backend');
}
{
  my ($st, $v) = backend_view('/tls/slash/a/b?x=1');
  is($st, 101, 'backend path "/": 101');
  is($v->{path}, '/tls/slash/a/b?x=1', 'backend path "/": the client target goes through');
}
{
  my ($st, $v) = backend_view('/tls/rewrite/a/b?x=1&y=%20');
  is($st, 101, 'backend path rewrite: 101');
  is($v->{path}, '/socket/v1?x=1&y=%20', 'backend path rewrite: backend path plus client query');
  ($st, $v) = backend_view('/tls/rewrite/nothing');
  is($v->{path}, '/socket/v1', 'backend path rewrite: no query, no "?"');
}
{
  my ($st, $v) = backend_view('/tls/fwd', 'X-Forwarded-For' => '203.0.113.9',
    'Forwarded' => 'for=203.0.113.9', Host => 'gw.example', Origin => 'https://app.example',
    Cookie => 'sid=42', 'X-Forwarded-Proto' => 'https', 'X-Forwarded-Host' => 'evil.example');
  is($st, 101, 'forwarded = on over wss: 101');
  is_deeply(header_values($v, 'X-Forwarded-For'), ['127.0.0.1'],
    'forwarded = on over wss: X-Forwarded-For is the client (not in trusted_proxies: its chain replaced)');
  is_deeply(header_values($v, 'X-Forwarded-Proto'), ['http'],
    'forwarded = on over wss: X-Forwarded-Proto is the client side scheme, the client\'s replaced');
  is_deeply(header_values($v, 'X-Forwarded-Host'), ['gw.example'],
    'forwarded = on over wss: X-Forwarded-Host is the client\'s Host');
  is_deeply(header_values($v, 'Forwarded'),
    ['for=127.0.0.1;host="gw.example";proto=http'],
    'forwarded = on over wss: Forwarded (RFC 7239), the client\'s replaced');
  is_deeply(header_values($v, 'Host'), ["127.0.0.1:$port{good}"], 'forwarded = on: Host is the backend');
  is_deeply(header_values($v, 'Origin'), ['https://app.example'], 'forwarded = on: Origin passes');
  is_deeply(header_values($v, 'Cookie'), ['sid=42'], 'forwarded = on: Cookie passes');
}

# ---- the backend's close code ----
{
  my ($s, $buf, $res) = ws_open($gport, '/tls/ip');
  is($res && $res->{status}, 101, 'backend close: 101');
  send_all($s, client_frame(1, 'before'));
  my $f = read_frame($s, 5, $buf);
  is($f && $f->{payload}, 'before', 'backend close: an echo first');
  send_all($s, client_frame(1, 'bye'));
  my ($code, $reason) = read_until_close($s, 5, $buf);
  is($code, 4000, 'backend close: code 4000 reaches the client');
  is($reason, 'tls bye', 'backend close: reason "tls bye" reaches the client');
  send_all($s, client_frame(8, pack('n', 4000) . 'tls bye'));
  ok(tcp_closed($s, $buf, 5), 'backend close: wsgate closes TCP after the close handshake');
}

# ---- the backend drops TLS without a close frame ----
{
  my ($s, $buf, $res) = ws_open($gport, '/tls/ip');
  is($res && $res->{status}, 101, 'backend drop: 101');
  send_all($s, client_frame(1, 'drop'));
  my ($code, $reason, $frames) = read_until_close($s, 5, $buf);
  is(join(',', map { $_->{payload} } @$frames), 'dropping',
    'backend drop: the message sent before the drop arrives first');
  ok(defined $code && ($code == 1001 || $code == 1011),
    'backend drop: the client gets close 1001 or 1011') or diag "code: " . ($code // 'none');
  send_all($s, client_frame(8, pack('n', 1000)));
  ok(tcp_closed($s, $buf, 5), 'backend drop: then TCP closes');
}

# ---- frames pipelined behind the upgrade request wait for the TLS handshake ----
{
  my $early = client_frame(1, 'early bird') . client_frame(2, pattern(70000, 9));
  my ($s, $buf, $res) = ws_open($gport, '/tls/name', -extra => $early);
  is($res && $res->{status}, 101, 'pipelined frames: 101');
  my $f1 = read_frame($s, 5, $buf);
  my $f2 = read_frame($s, 5, $buf);
  is($f1 && $f1->{payload}, 'early bird', 'pipelined frames: the text frame is relayed after the 101');
  ok($f2 && $f2->{opcode} == 2 && $f2->{payload} eq pattern(70000, 9),
    'pipelined frames: the 70000-byte binary frame too');
  send_all($s, client_frame(8, pack('n', 1000)));
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1000, 'pipelined frames: close 1000 comes back');
}

# ---- rejections: HTTP 502, the reason in the log ----

sub refused {
  my ($path, $status, $log_re, $name) = @_;
  my $t = time;
  my ($s, $buf, $res) = ws_open($gport, $path);
  is($res && $res->{status}, $status, "$name: HTTP $status, no 101");
  ok(time - $t < 4, "$name: answered quickly");
  ok(tcp_closed($s, $buf, 5), "$name: the client connection is closed");
  my $line = wait_for(3, sub { log_line($gw, $path) });
  like($line, $log_re, "$name: the log says why") or diag $gw->log_text;
  note "log: $line";
}

refused('/tls/wrong-ip', 502, qr/502.*certificate verify failed \(IP address mismatch\)/i,
  'wrong-name certificate, backend by IP');
refused('/tls/wrong-name', 502, qr/502.*certificate verify failed \(hostname mismatch\)/i,
  'wrong-name certificate, backend by name');
refused('/tls/self', 502, qr/502.*certificate verify failed \(self.signed certificate\)/i, 'self-signed certificate');
refused('/tls/system', 502, qr/502.*certificate verify failed/i,
  'test CA certificate with no tls_ca (system CAs)');
refused('/tls/plain', 502, qr/502.*TLS/, 'a backend that does not speak TLS');
refused('/tls/stall', 504, qr/504/, 'a backend that never finishes the TLS handshake');

# The servers saw the failed handshakes; they still serve.
{
  my ($st, $v) = backend_view('/tls/ip');
  is($st, 101, 'after the rejections the verified route still opens');
}

# ---- tls_verify = off ----

for my $case (['/tls/noverify', 'wrong-name certificate'], ['/tls/noverify-self', 'self-signed']) {
  my ($path, $what) = @$case;
  my ($s, $buf, $res) = ws_open($gport, $path);
  is($res && $res->{status}, 101, "tls_verify = off, $what: 101");
  my $big = pattern(300000, 3);
  send_all($s, client_frame(1, 'unverified'));
  send_all($s, client_frame(2, $big));
  my $f1 = read_frame($s, 5, $buf);
  my $f2 = read_frame($s, 5, $buf);
  ok($f1 && $f1->{opcode} == 1 && $f1->{payload} eq 'unverified', "tls_verify = off, $what: text echo");
  ok($f2 && $f2->{opcode} == 2 && $f2->{payload} eq $big, "tls_verify = off, $what: binary echo");
  send_all($s, client_frame(8, pack('n', 1000)));
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1000, "tls_verify = off, $what: close 1000 comes back");
}
{
  my $r = python_client("ws://127.0.0.1:$gport/tls/noverify", 5, 70000);
  ok($r->{echo}{'text 70000'} && $r->{echo}{'binary 70000'} && $r->{close_code} == 1000,
    'tls_verify = off: python3-websockets echo') or diag explain $r;
}

ok($gw->pid && kill(0, $gw->pid), 'wsgate is still running');
is($gw->stop('TERM', 10), 0, 'wsgate exits 0 on SIGTERM');
ok($servers->alive, 'the websockets servers are still running');

# ---- configuration checks (wsgate -t) ----

{
  my ($st, $out) = check_config("[route r]\npath = /r\nbackend = wss://localhost:9443\n" .
    "tls_ca = $dir/ca.pem\ntls_verify = on\nforwarded = on\n");
  is($st, 0, '-t: a wss route with tls_ca, tls_verify and forwarded is ok') or diag $out;
}
{
  my ($st, $out) = check_config("[route r]\npath = /r\nbackend = wss://localhost:9443\n" .
    "tls_ca = /nonexistent\n");
  isnt($st, 0, '-t: tls_ca = /nonexistent fails');
  like($out, qr{^/\S+:\d+: .*/nonexistent}m, '-t: the error is FILE:LINE and names the CA file')
    or diag $out;
  like(named_line($out) // '', qr{^tls_ca = /nonexistent}, '-t: LINE is the tls_ca line');
  like($out, qr/CA|certificate/i, '-t: the error says it is about CA certificates');
}
{
  my ($st, $out) = check_config("[route r]\npath = /r\nbackend = wss://localhost:9443\n" .
    "tls_ca = $dir/junk.pem\n");
  isnt($st, 0, '-t: tls_ca pointing at a file with no certificate fails');
  like($out, qr{^/\S+:\d+: .*junk\.pem}m, '-t: that error is FILE:LINE and names the file')
    or diag $out;
}
for my $key ('tls_verify = on', 'tls_verify = off', "tls_ca = $dir/ca.pem", 'forwarded = on') {
  my ($name) = $key =~ /^(\w+)/;
  my $what = $key =~ s{ = /.*}{ = CA}r;
  my ($st, $out) = check_config("[route r]\npath = /r\nbackend = tcp://127.0.0.1:7000\n$key\n");
  isnt($st, 0, "-t: $what on a tcp:// route fails");
  like($out, qr{^/\S+:\d+: .*$name}m, "-t: $what on a tcp:// route: FILE:LINE names $name")
    or diag $out;
  like(named_line($out) // '', qr{^(\[route r\]|\Q$key\E)},
    "-t: $what on tcp://: LINE is the route or the key");
}
{
  my ($st, $out) = check_config("[route r]\npath = /r\nbackend = ws://127.0.0.1:7000\n" .
    "tls_verify = off\n");
  isnt($st, 0, '-t: tls_verify on a ws:// route fails');
  like($out, qr{^/\S+:\d+: .*tls_verify}m, '-t: tls_verify on ws://: FILE:LINE names it') or diag $out;
}
{
  my ($st, $out) = check_config("[route r]\npath = /r\nbackend = wss://localhost:9443\n" .
    "tls_verify = maybe\n");
  isnt($st, 0, '-t: tls_verify = maybe fails');
  like($out, qr{^/\S+:\d+: .*tls_verify}m, '-t: tls_verify = maybe: FILE:LINE names it') or diag $out;
}

my $elapsed = time - $T0;
ok($elapsed < 40, sprintf('the whole file ran in %.1f s', $elapsed));

done_testing;
