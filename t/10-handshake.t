# The opening handshake (RFC 6455 section 4): the 101 answer, every HTTP error status, route
# selection, subprotocols, origins, limits, and what happens to bytes pipelined after the head.
# Raw sockets for what a polite client never sends; Mojo::UserAgent and python3-websockets as
# independent clients for the happy paths.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use WsgateMojo;
use Test::More;
use IO::Socket::INET;
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use Mojo::UserAgent;
use Mojo::IOLoop;
use WsgateTest;

$SIG{PIPE} = 'IGNORE';

my $KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
my $ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
my $tmp = tempdir(CLEANUP => 1);

my $echo_backend = tcp_echo_server();
my $closed_port = empty_port();

my $gw = wsgate(<<"INI");
[route echo]
path = /echo
backend = echo

[route tcp]
path = /tcp
backend = ${\ $echo_backend->backend }

[route proto]
path = /proto
backend = echo
protocols = chat, binary

[route origin]
path = /origin
backend = echo
origins = https://example.com, https://*.example.com

[route refused]
path = /refused
backend = tcp://127.0.0.1:$closed_port

[route nounix]
path = /nounix
backend = unix:$tmp/no-such.sock

[route exact]
path = /a/b/c
backend = echo

[route short]
path = /a/*
backend = echo

[route long]
path = /a/b/*
backend = echo

[route pfx]
path = /p/*
backend = echo

[route re_p]
path = ~ ^/p/
backend = echo

[route re_first]
path = ~ ^/r/
backend = echo

[route re_second]
path = ~ ^/r/[0-9]+\$
backend = echo

[route re_third]
path = ~ ^/s/[0-9]+\$
backend = echo
INI

# ---- helpers ----

# Connects, sends an upgrade request and reads the answer: ($sock, $response).
sub upgrade {
  my ($s, undef, $r) = ws_open($gw->port, @_);
  return ($s, $r);
}

# Connects, sends raw bytes and reads the answer.
sub raw_request {
  my ($bytes, $port) = @_;
  my $s = raw_connect($port // $gw->port);
  send_all($s, $bytes);
  return ($s, read_http_response($s, 5));
}

# An HTTP error answer: the status, Connection: close, a body, and then the TCP close.
sub check_error {
  my ($s, $r, $status, $name) = @_;
  is($r && $r->{status}, $status, "$name -> $status");
  like($r && $r->{headers}{connection}, qr/^close$/i, "$name: answer has Connection: close");
  ok(tcp_closed($s, $r && $r->{rest}), "$name: wsgate closes the connection after the answer");
  return $r;
}

# A 101 answer, then a masked text frame that must come back.
sub echo_ok {
  my ($s, $r, $name) = @_;
  return fail("$name: no 101 (got " . ($r ? $r->{line} : 'nothing') . ')')
    unless $r && $r->{status} == 101;
  my $buf = $r->{rest};
  send_all($s, client_frame(1, "ping $name"));
  my $f = read_frame($s, 5, \$buf);
  ok($f && $f->{opcode} == 1 && $f->{payload} eq "ping $name", "$name: 101 and a message echoes");
}

# Opens a WebSocket on $path, closes it cleanly, and returns the route the access log names.
sub served_by {
  my ($path) = @_;
  my ($s, $r) = upgrade($path);
  return "status " . ($r ? $r->{status} : 'none') unless $r && $r->{status} == 101;
  my $buf = $r->{rest};
  send_all($s, client_frame(8, pack('n', 1000)));
  read_until_close($s, 5, \$buf);
  close $s;
  (my $logged = $path) =~ s/\?.*//;
  my $route;
  wait_for(5, sub {
    my @m = $gw->log_text =~ /"\Q$logged\E" route=(\S+) .*status=101/g;
    $route = $m[-1];
  });
  return $route // 'no access log line';
}

# Runs python3-websockets against $url, offering the comma-separated $offer; returns its
# key=value report lines as a hash.
my $PY = <<'PY';
import asyncio, sys, websockets
async def main(url, offer):
    protos = [p for p in offer.split(",") if p] or None
    try:
        async with websockets.connect(url, subprotocols=protos, open_timeout=5,
                                      close_timeout=5) as ws:
            print("proto=%s" % ws.subprotocol)
            print("ext=%s" % ws.response_headers.get("Sec-WebSocket-Extensions"))
            await ws.send("h\u00e9llo \u20ac")
            t = await asyncio.wait_for(ws.recv(), 5)
            print("text=%s" % (t == "h\u00e9llo \u20ac"))
            await ws.send(b"\x00\x01\xfe\xff" * 1000)
            b = b""
            while len(b) < 4000:
                m = await asyncio.wait_for(ws.recv(), 5)
                if not isinstance(m, bytes):
                    break
                b += m
            print("binary=%s" % (b == b"\x00\x01\xfe\xff" * 1000))
        print("close=%s" % ws.close_code)
    except websockets.exceptions.InvalidStatusCode as e:
        print("status=%d" % e.status_code)
    except Exception as e:
        print("error=%s: %s" % (type(e).__name__, e))
asyncio.run(main(sys.argv[1], sys.argv[2]))
PY

sub python_client {
  my ($url, $offer) = @_;
  open(my $ph, '-|', '/usr/bin/python3', '-c', $PY, $url, $offer // '') or die "python3: $!";
  my %out;
  while (<$ph>) { chomp; my ($k, $v) = split /=/, $_, 2; $out{$k} = $v }
  close $ph;
  return \%out;
}

# Runs python_client on $path with $offer and checks its report, one [key, value, name] a check;
# the whole report is shown after the first check that fails.
sub python_expect {
  my ($path, $offer, @checks) = @_;
  my $py = python_client($gw->url($path), $offer);
  my $shown = 0;
  for my $c (@checks) {
    my ($key, $want, $name) = @$c;
    is($py->{$key}, $want, $name) or $shown++ or diag explain $py;
  }
}

# ---- the 101 ----

{
  my ($s, $r) = upgrade('/echo', 'Sec-WebSocket-Extensions' => 'permessage-deflate; client_max_window_bits');
  is($r && $r->{status}, 101, 'RFC 6455 4.2.2: a valid upgrade gets 101');
  is($r->{line}, 'HTTP/1.1 101 Switching Protocols', 'RFC 6455 4.2.2: status line is HTTP/1.1 101');
  is($r->{headers}{'sec-websocket-accept'}, $ACCEPT,
    'RFC 6455 4.2.2: Sec-WebSocket-Accept for the RFC sample key is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  like($r->{headers}{upgrade}, qr/^websocket$/i, 'RFC 6455 4.2.2: Upgrade: websocket');
  like($r->{headers}{connection}, qr/\bupgrade\b/i, 'RFC 6455 4.2.2: Connection: Upgrade');
  ok(!exists $r->{headers}{'sec-websocket-extensions'},
    'RFC 6455 9.1: a permessage-deflate offer is declined (no Sec-WebSocket-Extensions)');
  ok(!exists $r->{headers}{'sec-websocket-protocol'},
    'RFC 6455 4.2.2: no Sec-WebSocket-Protocol when none was offered');
  is($r->{rest}, '', 'nothing follows the 101 until the client speaks');
  echo_ok($s, $r, 'RFC 6455 4.2.2: after the 101');
}

{
  my ($s, $r) = upgrade('/echo', 'Sec-WebSocket-Key' => 'AQIDBAUGBwgJCgsMDQ4PEA==');
  is($r && $r->{headers}{'sec-websocket-accept'}, 'C/0nmHhBztSRGR1CwL6Tf4ZjwpY=',
    'RFC 6455 4.2.2: Sec-WebSocket-Accept is SHA-1 of key + GUID for another key too');
}

{
  echo_ok(upgrade('/echo', Connection => 'keep-alive, UPGRADE'),
    'RFC 6455 4.2.1: Connection as a token list in any case (keep-alive, UPGRADE)');
  echo_ok(upgrade('/echo', Upgrade => 'WebSocket'), 'RFC 6455 4.2.1: Upgrade: WebSocket in any case');
  echo_ok(upgrade('/echo', Upgrade => 'WEBSOCKET', Connection => 'upgrade'),
    'RFC 6455 4.2.1: Upgrade: WEBSOCKET, Connection: upgrade');
  echo_ok(upgrade('/echo', 'X-Filler' => 'x' x 7800), 'a request head just under 8 KiB is accepted');
  echo_ok(raw_request("GET /echo HTTP/1.1\r\nhost: localhost\r\nupgrade: websocket\r\n"
      . "connection: upgrade\r\nsec-websocket-key: $KEY\r\nsec-websocket-version: 13\r\n\r\n"),
    'RFC 7230 3.2: header names are case-insensitive (all lower case)');
  my ($s, $r) = raw_request("GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    . "Connection: keep-alive\r\nConnection: Upgrade\r\nSec-WebSocket-Key: $KEY\r\n"
    . "Sec-WebSocket-Version: 13\r\n\r\n");
  echo_ok($s, $r, 'RFC 7230 3.2.2: the upgrade token in a second Connection header line');
  is($r && $r->{headers}{'sec-websocket-accept'}, $ACCEPT, 'and the accept value is still right');
}

{
  # The request head dribbles in one byte per write: the parser must wait for all of it.
  my $s = raw_connect($gw->port);
  setsockopt($s, 6, 1, 1);  # TCP_NODELAY
  my $req = "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    . "Sec-WebSocket-Key: $KEY\r\nSec-WebSocket-Version: 13\r\n\r\n";
  for my $c (split //, $req) { send_all($s, $c); sleep 0.002 }
  my $r = read_http_response($s, 5);
  echo_ok($s, $r, 'RFC 6455 4.2.1: a request head sent one byte per write');
}

# ---- independent clients ----

{
  my %got;
  my $ua = Mojo::UserAgent->new(connect_timeout => 5, inactivity_timeout => 10);
  $ua->websocket($gw->url('/proto') => ['chat'] => sub {
    my ($ua, $tx) = @_;
    $got{ws} = $tx->is_websocket;
    $got{status} = $tx->res->code;
    unless ($tx->is_websocket) { Mojo::IOLoop->stop; return }
    $got{protocol} = $tx->protocol;
    $got{compressed} = $tx->compressed;
    $got{ext} = $tx->res->headers->sec_websocket_extensions;
    $got{accept} = $tx->res->headers->sec_websocket_accept;
    my @todo = ("h\x{e9}llo \x{20ac}", { binary => "\x00\xff" x 70000 });
    $tx->on(message => sub {
      my ($tx, $msg) = @_;
      push @{ $got{messages} }, $msg;
      if (@todo) { $tx->send(shift @todo) } else { $tx->finish(1000, 'done') }
    });
    $tx->on(finish => sub { my ($tx, $code) = @_; $got{close} = $code; Mojo::IOLoop->stop });
    $tx->send(shift @todo);
  });
  my $guard = Mojo::IOLoop->timer(15 => sub { $got{timeout} = 1; Mojo::IOLoop->stop });
  Mojo::IOLoop->start;
  Mojo::IOLoop->remove($guard);
  ok($got{ws}, 'Mojo::UserAgent: handshake succeeds') or diag "status " . ($got{status} // 'none');
  is($got{protocol}, 'chat', 'Mojo::UserAgent: the offered subprotocol chat is selected');
  ok(!$got{compressed} && !$got{ext}, 'Mojo::UserAgent: its permessage-deflate offer is declined');
  is_deeply($got{messages}, ["h\x{e9}llo \x{20ac}", "\x00\xff" x 70000],
    'Mojo::UserAgent: a UTF-8 text and a 140000-byte binary message come back intact');
  is($got{close}, 1000, 'Mojo::UserAgent: close handshake completes with 1000');
  ok(!$got{timeout}, 'Mojo::UserAgent: the exchange finished in time');
}

python_expect('/echo', '',
  [text => 'True', 'python3-websockets: text echo on the echo route'],
  [binary => 'True', 'python3-websockets: binary echo on the echo route'],
  [ext => 'None', 'python3-websockets: its permessage-deflate offer is declined'],
  [close => '1000', 'python3-websockets: close handshake completes with 1000']);
python_expect('/tcp', '',
  [binary => 'True', 'python3-websockets: binary through a tcp:// backend comes back'],
  [close => '1000', 'python3-websockets: tcp route closes cleanly with 1000']);
python_expect('/refused', '',
  [status => '502', 'python3-websockets: a refused backend is an HTTP 502, not a 101']);

# ---- subprotocols ----

{
  my ($s, $r) = upgrade('/proto', 'Sec-WebSocket-Protocol' => 'foo, binary, chat');
  is($r && $r->{headers}{'sec-websocket-protocol'}, 'binary',
    'RFC 6455 4.2.2: the first protocol of the client offer that the route accepts is chosen');
  ($s, $r) = upgrade('/proto', 'Sec-WebSocket-Protocol' => 'chat,binary');
  is($r && $r->{headers}{'sec-websocket-protocol'}, 'chat',
    'RFC 6455 4.2.2: client order wins over the route order');
  ($s, $r) = raw_request("GET /proto HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Key: $KEY\r\nSec-WebSocket-Version: 13\r\n"
    . "Sec-WebSocket-Protocol: foo\r\nSec-WebSocket-Protocol: chat, binary\r\n\r\n");
  is($r && $r->{headers}{'sec-websocket-protocol'}, 'chat',
    'RFC 6455 4.2.2: an offer spread over two Sec-WebSocket-Protocol lines is read in order');
  ($s, $r) = upgrade('/proto', 'Sec-WebSocket-Protocol' => 'foo, bar');
  is($r && $r->{status}, 101, 'RFC 6455 4.2.2: an offer of only unknown protocols still gets 101');
  ok(!exists $r->{headers}{'sec-websocket-protocol'},
    'RFC 6455 4.2.2: and no Sec-WebSocket-Protocol header at all');
  ($s, $r) = upgrade('/proto');
  is($r && $r->{status}, 101, 'RFC 6455 4.2.2: no offer on a route with protocols gets 101');
  ok(!exists $r->{headers}{'sec-websocket-protocol'},
    'RFC 6455 4.2.2: and no Sec-WebSocket-Protocol header');
  ($s, $r) = upgrade('/echo', 'Sec-WebSocket-Protocol' => 'chat');
  ok($r && $r->{status} == 101 && !exists $r->{headers}{'sec-websocket-protocol'},
    'RFC 6455 4.2.2: a route without protocols answers none');
}
python_expect('/proto', 'foo,binary,chat',
  [proto => 'binary', 'python3-websockets: offer foo,binary,chat selects binary'],
  [text => 'True', 'python3-websockets: and the session echoes']);
python_expect('/proto', 'foo',
  [proto => 'None', 'python3-websockets: offer of an unknown protocol gets none, no abort'],
  [close => '1000', 'python3-websockets: that session closes cleanly']);
python_expect('/proto', '', [proto => 'None', 'python3-websockets: no offer gets no protocol']);

# ---- pipelined bytes ----

{
  my ($s, $buf, $r) =
    ws_open($gw->port, '/echo', -extra => client_frame(1, 'early bird') . client_frame(2, "\x00\x01"));
  is($r && $r->{status}, 101, 'RFC 6455 4.2.2: upgrade with frames pipelined in the same write');
  my $f1 = read_frame($s, 5, $buf);
  my $f2 = read_frame($s, 5, $buf);
  is($f1 && "$f1->{opcode}:$f1->{payload}", '1:early bird',
    'RFC 6455 4.2.2: a text frame pipelined after the head is echoed, not dropped');
  is($f2 && "$f2->{opcode}:$f2->{payload}", "2:\x00\x01", 'and so is the binary frame after it');

  ($s, $buf, $r) = ws_open($gw->port, '/tcp', -extra => client_frame(2, 'to the backend'));
  is($r && $r->{status}, 101, 'upgrade to a tcp:// route with a pipelined frame');
  my $got = '';
  while (length $got < 14) { my $f = read_frame($s, 5, $buf) or last; $got .= $f->{payload} }
  is($got, 'to the backend',
    'a frame pipelined while the backend connects reaches the backend and comes back');
}

# ---- errors: request syntax and method ----

check_error(raw_request("GET /echo\r\nHost: localhost\r\n\r\n"), 400,
  'RFC 6455 4.2.1: malformed request line (no version)');
check_error(raw_request("GET  /echo HTTP/1.1\r\nHost: localhost\r\n\r\n"), 400,
  'RFC 6455 4.2.1: malformed request line (double space)');
check_error(raw_request("GET /echo HTTP/1.0\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Key: $KEY\r\nSec-WebSocket-Version: 13\r\n\r\n"),
  400, 'RFC 6455 4.2.1: HTTP/1.0 upgrade');
# [path, header => value (undef drops it) ...], the status, what is wrong.
for my $c (
  [['/echo', Host => undef], 400, 'missing Host'],
  [['/echo', 'Sec-WebSocket-Key' => undef], 400, 'missing Sec-WebSocket-Key'],
  [['/echo', 'Sec-WebSocket-Key' => 'abc'], 400, 'Sec-WebSocket-Key too short'],
  [['/echo', 'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ'], 400,
    'Sec-WebSocket-Key without padding'],
  [['/echo', 'Sec-WebSocket-Key' => 'AAAAAAAAAAAAAAAAAAAAAAAAAAA='], 400,
    'Sec-WebSocket-Key decoding to 20 bytes'],
  [['/echo', 'Sec-WebSocket-Key' => '!!!!!!!!!!!!!!!!!!!!!!=='], 400,
    'Sec-WebSocket-Key that is not base64'],
  [['/echo', Connection => 'keep-alive'], 400, 'Connection without the upgrade token'],
  [['/echo', Connection => undef], 400, 'no Connection header'],
) {
  my ($req, $status, $what) = @$c;
  check_error(upgrade(@$req), $status, "RFC 6455 4.2.1: $what");
}
check_error(upgrade('/nowhere'), 404, 'no route for the path');
check_error(upgrade('/a'), 404, 'prefix /a/* does not match /a');
{
  my $r = check_error(upgrade('/echo', -method => 'POST'), 405, 'RFC 6455 4.2.1: POST upgrade');
  is($r && $r->{headers}{allow}, 'GET', 'RFC 9110 15.5.6: the 405 names Allow: GET');
}
{
  my $r = check_error(upgrade('/echo', 'Sec-WebSocket-Version' => '8'), 426,
    'RFC 6455 4.4: Sec-WebSocket-Version 8');
  is($r && $r->{headers}{'sec-websocket-version'}, '13',
    'RFC 6455 4.4: the 426 for version 8 carries Sec-WebSocket-Version: 13');
  $r = check_error(raw_request("GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n"), 426,
    'RFC 6455 4.2.2: plain GET without Upgrade to a routed path');
  is($r && $r->{headers}{'sec-websocket-version'}, '13',
    'RFC 6455 4.2.2: the 426 for a plain GET carries Sec-WebSocket-Version: 13');
}

# ---- errors: 431 ----

check_error(upgrade('/echo', 'X-Big' => 'x' x 9000), 431,
  'RFC 6585 5: request head over 8 KiB (one 9000-byte header)');
{
  my $head = "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    . "Sec-WebSocket-Key: $KEY\r\nSec-WebSocket-Version: 13\r\n" . ("X: y\r\n" x 10000) . "\r\n";
  check_error(raw_request($head), 431, 'RFC 6585 5: 10,000 tiny headers');
}

# ---- errors: 403 origins ----

{
  my @cases = (
    ['https://example.com', 101, 'exact allowed origin'],
    ['https://chat.example.com', 101, 'wildcard *.example.com origin'],
    ['https://a.b.example.com', 101, 'wildcard origin with two labels'],
    ['https://evil.com', 403, 'origin not allowed'],
    ['https://example.com.evil.com', 403, 'origin with the allowed host as a prefix'],
    ['https://evilexample.com', 403, 'origin ending in the wildcard suffix without a dot'],
    ['http://example.com', 403, 'allowed host with another scheme'],
    [undef, 403, 'missing Origin when origins are configured'],
  );
  for my $c (@cases) {
    my ($origin, $want, $what) = @$c;
    my ($s, $r) = upgrade('/origin', Origin => $origin);
    if ($want == 101) { echo_ok($s, $r, "RFC 6455 10.2: $what passes") }
    else { check_error($s, $r, 403, "RFC 6455 10.2: $what") }
  }
  echo_ok(upgrade('/echo', Origin => 'https://evil.com'),
    'RFC 6455 10.2: with no origins configured any Origin passes');
  echo_ok(upgrade('/echo'), 'RFC 6455 10.2: with no origins configured a missing Origin passes');
}

# ---- errors: backend ----

{
  my ($s, $r) = upgrade('/refused');
  check_error($s, $r, 502, 'backend tcp:// port closed');
  isnt($r && $r->{status}, 101, 'RFC 6455 4.2.2: the 101 waits for the backend: refused gives no 101');
  is($r && $r->{body}, "502 Bad Gateway: the backend is unavailable\n",
    '502: the client gets a generic body');
  my (undef, $u) = upgrade('/nounix');
  check_error(upgrade('/nounix'), 502, 'backend unix: path missing');
  unlike($u && $u->{body}, qr{no-such\.sock|No such file}, '502: no socket path or errno for the client');
  like($gw->log_text, qr{"/nounix": 502 Bad Gateway: .*unix:/}, '... the log has them');
}

# ---- route precedence ----

is(served_by('/a/b/c'), 'exact', 'route: exact /a/b/c beats prefixes /a/* and /a/b/*');
is(served_by('/a/b/x'), 'long', 'route: longest prefix /a/b/* beats /a/* (declared first)');
is(served_by('/a/x'), 'short', 'route: /a/x takes the only matching prefix /a/*');
is(served_by('/p/1'), 'pfx', 'route: prefix /p/* beats regex ^/p/ declared after it');
is(served_by('/r/1'), 're_first', 'route: regexes in file order (^/r/ before ^/r/[0-9]+$)');
is(served_by('/s/42'), 're_third', 'route: a regex matches when nothing else does');
is(served_by('/echo?x=1'), 'echo', 'route: the query string is ignored (/echo?x=1 hits /echo)');
is(served_by('/a/b/c?q=/x'), 'exact', 'route: query string ignored for exact routes with a / in it');

# ---- 408: handshake_timeout ----

{
  my $g = wsgate("[route echo]\npath = /echo\nbackend = echo\n", server => "handshake_timeout = 1s\n");
  my $silent = raw_connect($g->port);
  my $s = raw_connect($g->port);
  send_all($s, "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n");
  my $t0 = time;
  my $r = read_http_response($s, 5);
  my $took = time - $t0;
  check_error($s, $r, 408, 'handshake_timeout = 1s with half a request');
  ok($took > 0.7 && $took < 3, sprintf('408 arrives after about 1 s (%.2f s)', $took));
  check_error($silent, read_http_response($silent, 5), 408,
    'handshake_timeout = 1s with a client that sends nothing');
}

# ---- 504: connect_timeout ----

{
  # A listener that never accepts, with its backlog filled: the kernel drops further SYNs.
  my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $!;
  my @fill = map {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $l->sockport, Blocking => 0)
  } 1 .. 4;
  sleep 0.2;
  my $g = wsgate("[route slow]\npath = /slow\nbackend = tcp://127.0.0.1:${\ $l->sockport }\n"
    . "connect_timeout = 500ms\n");
  my ($s) = raw_connect($g->port);
  my $t0 = time;
  raw_upgrade($s, '/slow');
  my $r = read_http_response($s, 5);
  my $took = time - $t0;
  check_error($s, $r, 504, 'connect_timeout = 500ms to a backend that never accepts');
  ok($took > 0.35 && $took < 3, sprintf('504 arrives after about 0.5 s (%.2f s)', $took));
}

# ---- 503: max_connections ----

{
  my $g = wsgate("[route echo]\npath = /echo\nbackend = echo\n", server => "max_connections = 2\n");
  my @open;
  for my $i (1, 2) {
    my ($s, $buf, $r) = ws_open($g->port, '/echo');
    is($r && $r->{status}, 101, "max_connections = 2: session $i opens");
    push @open, [$s, $buf];
  }
  my ($s3, undef, $r3) = ws_open($g->port, '/echo');
  check_error($s3, $r3, 503, 'max_connections = 2: a third client');
  close $s3;  # wsgate counts a rejected connection until the client closes its end too
  for my $i (0, 1) {
    my ($s, $buf) = @{ $open[$i] };
    send_all($s, client_frame(1, "still here $i"));
    my $f = read_frame($s, 5, $buf);
    is($f && $f->{payload}, "still here $i", 'max_connections = 2: session ' . ($i + 1)
      . ' still echoes after the 503');
  }
  my ($s, $buf) = @{ $open[0] };
  send_all($s, client_frame(8, pack('n', 1000)));
  read_until_close($s, 5, $buf);
  close $s;
  # The slot is free once the session is gone, which its access log line tells.
  wait_for(5, sub { $g->log_text =~ /route=echo .*status=101 .*close=1000/ });
  my $admitted = wait_for(5, sub {
    my ($c, undef, $r) = ws_open($g->port, '/echo');
    return 1 if $r && $r->{status} == 101;
    close $c;    # a 503 holds its slot until wsgate sees this close
    sleep 0.2;
    return 0;
  });
  ok($admitted, 'max_connections = 2: once a session closes a new client is admitted');
}

ok(kill(0, $gw->pid), 'wsgate is still running after all of the above');

done_testing;
