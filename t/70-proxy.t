# ws:// proxy mode against a real WebSocket server from an independent library
# (python3-websockets): the proxied handshake (target, forwarding headers, subprotocol,
# permessage-deflate, refusals), the frame relay (echo, fragments, pings both ways, close codes,
# protocol errors), and the lifecycle (idle_timeout, ping_interval, vanishing peers, memory).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(sleep time);
use WsgateTest;

my $PY = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with websockets'
  unless -x $PY && system($PY, '-c', 'import websockets') == 0;

my $T0 = time;
my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->utf8->canonical;

# ---- the backend: a websockets server ----
#
# Echoes every message. A text message starting with "!" is a command:
#   !headers          reply with JSON {path, headers: [[name, value], ...]} of the upgrade request
#   !frames           reply with JSON [[opcode, fin, length], ...] of the data frames read so far
#   !close CODE TEXT  close with that code and reason
#   !ping DATA        send a ping
#   !frag A,B,C       send one text message as fragments A, B, C
#   !flood N          send N binary messages of 64 KiB
#   !reset            drop the TCP connection with a reset, no close frame
# Events go to a JSON-lines log: open (path, headers, subprotocol, extensions), pong (path, data)
# and closed (path, code, reason: the close frame it received, 1006 for none).
my $server_py = <<'PY';
import asyncio, http, json, os, socket, struct, sys
import websockets
from websockets.datastructures import Headers
from websockets.legacy.server import WebSocketServerProtocol

port, logfile = int(sys.argv[1]), sys.argv[2]
opts = sys.argv[3:]
compression = None if "--no-deflate" in opts else "deflate"

def log(ev):
    with open(logfile, "a") as f:
        f.write(json.dumps(ev) + "\n")

class Proto(WebSocketServerProtocol):
    async def read_frame(self, max_size):
        fr = await super().read_frame(max_size)
        if fr.opcode == 0xA:
            log({"ev": "pong", "path": self.path, "data": fr.data.decode("latin-1")})
        if fr.opcode in (0, 1, 2) and hasattr(self, "frames"):
            self.frames.append([int(fr.opcode), bool(fr.fin), len(fr.data)])
        return fr

async def process_request(path, headers):
    if "refuse" in path:
        return (http.HTTPStatus.FORBIDDEN, Headers([("Content-Type", "text/plain"), ("X-Backend", "refused")]),
                b"backend says no\n")
    return None

async def handler(ws, path):
    ws.frames = []
    hdrs = [[k, v] for k, v in ws.request_headers.raw_items()]
    log({"ev": "open", "path": path, "headers": hdrs, "subprotocol": ws.subprotocol,
         "extensions": ws.response_headers.get("Sec-WebSocket-Extensions")})
    try:
        async for msg in ws:
            if isinstance(msg, str) and msg.startswith("!"):
                cmd, _, arg = msg[1:].partition(" ")
                if cmd == "headers":
                    await ws.send(json.dumps({"path": path, "headers": hdrs}))
                elif cmd == "frames":
                    await ws.send(json.dumps(ws.frames[:-1]))
                    ws.frames = []
                elif cmd == "close":
                    code, _, reason = arg.partition(" ")
                    await ws.close(int(code), reason)
                elif cmd == "ping":
                    await ws.ping(arg.encode())
                elif cmd == "frag":
                    await ws.send(iter(arg.split(",")))
                elif cmd == "flood":
                    chunk = b"\xab" * 65536
                    for _ in range(int(arg)):
                        await ws.send(chunk)
                elif cmd == "reset":
                    sock = ws.transport.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    ws.transport.abort()
                else:
                    await ws.send(msg)
            else:
                await ws.send(msg)
    except Exception:
        pass
    await ws.wait_closed()
    log({"ev": "closed", "path": path, "code": ws.close_code, "reason": ws.close_reason})

async def main():
    async with websockets.serve(handler, "127.0.0.1", port, create_protocol=Proto,
                                process_request=process_request,
                                subprotocols=["chat", "superchat"], max_size=None,
                                extra_headers=[("Set-Cookie", "sid=from-backend")],
                                compression=compression, ping_interval=None, close_timeout=2):
        await asyncio.Future()

asyncio.run(main())
PY

# ---- a client: websockets, unmodified ----
#
# client.py URL JSON-options; prints JSON {subprotocol, extensions, results, close_code}.
# Options: protocols, compression (null for none), echo: [[kind, size], ...], headers.
my $client_py = <<'PY';
import asyncio, json, sys
import websockets

url, o = sys.argv[1], json.loads(sys.argv[2])

def payload(kind, n):
    if kind == "text":
        unit = "a\u00e9\u20ac\U0001F600 websocket text "
        return (unit * (n // len(unit) + 1))[:n]
    return bytes((i * 7 + n) & 0xFF for i in range(min(n, 4096))) * (n // 4096 + 1) if n else b""

async def main():
    out = {"results": []}
    kw = dict(max_size=None, ping_interval=None, close_timeout=2,
              compression=o.get("compression", None))
    if o.get("protocols"):
        kw["subprotocols"] = o["protocols"]
    try:
        async with websockets.connect(url, **kw) as ws:
            out["subprotocol"] = ws.subprotocol
            out["extensions"] = [type(e).__name__ for e in ws.extensions]
            out["ext_header"] = ws.response_headers.get("Sec-WebSocket-Extensions")
            for kind, n in o.get("echo", []):
                msg = payload(kind, n)
                if kind == "binary":
                    msg = msg[:n]
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 20)
                out["results"].append([kind, n, got == msg, len(got)])
            await ws.close(1000, "done")
        out["close_code"] = ws.close_code
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out))

asyncio.run(main())
PY

for (['server.py', $server_py], ['client.py', $client_py]) {
  open my $fh, '>', "$dir/$_->[0]" or die "$_->[0]: $!";
  print $fh $_->[1];
  close $fh;
}

# Starts server.py on a free port; the handle kills it when it goes out of scope.
sub backend {
  my ($name, @opts) = @_;
  my $port = empty_port();
  my $log = "$dir/$name.events";
  my $proc = start_program([$PY, "$dir/server.py", $port, $log, @opts], port => $port,
    out => "$dir/$name.out");
  return bless { proc => $proc, port => $port, log => $log, name => $name }, 'PyBackend';
}

sub PyBackend::url { "ws://127.0.0.1:$_[0]{port}" . ($_[1] // '') }

sub PyBackend::events {
  my ($self) = @_;
  my $text = slurp($self->{log}) // '';
  return map { $json->decode($_) } grep { length } split /\n/, $text;
}

# Waits for an event of kind $ev whose path contains $tag; returns it or undef.
sub PyBackend::event {
  my ($self, $ev, $tag, $secs) = @_;
  my $found;
  wait_for($secs // 5, sub {
    ($found) = grep { $_->{ev} eq $ev && index($_->{path}, $tag) >= 0 } $self->events;
    $found;
  });
  return $found;
}

sub PyBackend::kill { $_[0]{proc}->kill($_[1]) }

# Runs client.py; returns its JSON result.
sub py_client {
  my ($url, %o) = @_;
  my $arg = $json->encode(\%o);
  open my $fh, '-|', $PY, "$dir/client.py", $url, $arg or die "client: $!";
  local $/;
  my $out = <$fh>;
  close $fh;
  my $r = eval { $json->decode($out) };
  return $r || { error => "bad client output: " . ($out // '') };
}

# Reads frames up to the first one with $opcode; returns it (undef on EOF/timeout) and the
# frames before it.
sub frame_with {
  my ($s, $buf, $opcode, $secs) = @_;
  my @before;
  while (my $f = read_frame($s, $secs // 5, $buf)) {
    return ($f, \@before) if $f->{opcode} == $opcode;
    push @before, $f;
  }
  return (undef, \@before);
}

# Sends one text message from a raw client and returns the text of the reply.
sub ask {
  my ($s, $buf, $text) = @_;
  send_all($s, client_frame(1, $text));
  my ($f) = frame_with($s, $buf, 1);
  return $f ? $f->{payload} : undef;
}

sub headers_of {
  my ($list) = @_;
  my %h;
  for (@$list) { push @{ $h{lc $_->[0]} }, $_->[1] }
  return \%h;
}

sub close_payload { pack('n', $_[0]) . ($_[1] // '') }

# Raw client closes: sends a close with $code, reads to the server's close.
sub raw_close {
  my ($s, $buf, $code) = @_;
  send_all($s, client_frame(8, close_payload($code // 1000)));
  return read_until_close($s, 5, $buf);
}

# ---- backends and gateway ----

my $py = backend('main');
my $plain = backend('plain', '--no-deflate');
my $dead_port = empty_port();

my $ini = <<"INI";
[route root]
path = /root/*
backend = ${\ $py->url }

[route slash]
path = /slash/*
backend = ${\ $py->url('/') }

[route rewrite]
path = /rw/*
backend = ${\ $py->url('/socket/v1') }

[route fwd]
path = /fwd/*
backend = ${\ $py->url }
forwarded = on

[route chat]
path = /chat/*
backend = ${\ $py->url }
protocols = chat

[route nodeflate]
path = /nodeflate/*
backend = ${\ $plain->url }

[route idle]
path = /idle/*
backend = ${\ $py->url }
idle_timeout = 1s

[route keepalive]
path = /ka/*
backend = ${\ $py->url }
ping_interval = 500ms

[route small]
path = /small/*
backend = ${\ $py->url }
max_message_size = 1k

[route dead]
path = /dead/*
backend = ws://127.0.0.1:$dead_port
connect_timeout = 2s
INI

my $gw = wsgate($ini);
my $port = $gw->port;
my $tag = 0;
sub tag { my $p = shift; $p . '?t=' . ++$tag }

# ---- echo, 0 B to 4 MiB, text and binary, third-party client both ends ----
{
  my @sizes = (0, 1, 125, 126, 65535, 65536, 1 << 20, 4 << 20);
  my $t = time;
  my $r = py_client($gw->url(tag('/root/echo')),
    echo => [map { (['text', $_], ['binary', $_]) } @sizes]);
  ok(!$r->{error}, 'websockets client connects through wsgate to a websockets server')
    or diag $r->{error};
  is(scalar @{ $r->{results} || [] }, 2 * @sizes, 'every echo came back');
  for my $res (@{ $r->{results} || [] }) {
    ok($res->[2], "echo of $res->[0] $res->[1] B intact") or diag "got $res->[3] B";
  }
  is($r->{close_code}, 1000, 'client close 1000 answered with 1000 by the backend');
  diag sprintf('echo 0 B..4 MiB took %.2fs', time - $t);
}

# ---- fragments and pings ----
{
  my $path = tag('/root/frag');
  my ($s, $buf, $res) = ws_open($port, $path);
  is($res && $res->{status}, 101, 'raw client: 101 through the proxy');
  is($res && $res->{headers}{'set-cookie'}, 'sid=from-backend',
    "the backend's Set-Cookie on its 101 reaches the client");
  send_all($s, client_frame(1, 'Hel', fin => 0)
      . client_frame(9, 'mid-message ping')
      . client_frame(0, 'lo, ', fin => 0)
      . client_frame(0, 'world', fin => 1));
  my ($pong, $before) = frame_with($s, $buf, 10);
  ok($pong, 'a ping inside a fragmented message is answered');
  is($pong && $pong->{payload}, 'mid-message ping', 'by the backend, with the ping payload');
  my ($echo) = frame_with($s, $buf, 1);
  is($echo && $echo->{payload}, 'Hello, world', 'fragmented text message echoed whole');
  my $frames = $json->decode(ask($s, $buf, '!frames') // 'null');
  is_deeply($frames, [[1, JSON::PP::false, 3], [0, JSON::PP::false, 4], [0, JSON::PP::true, 5]],
    'the backend received the three fragments as sent') or diag explain $frames;

  # Large binary fragments.
  my @parts = map { chr(65 + $_) x (100_000 + $_) } 0 .. 2;
  send_all($s, client_frame(2, $parts[0], fin => 0) . client_frame(0, $parts[1], fin => 0)
      . client_frame(0, $parts[2]));
  my ($bin) = frame_with($s, $buf, 2, 10);
  ok($bin && $bin->{payload} eq join('', @parts), '300 KB message in 3 fragments echoed whole');

  # Backend to client: fragments arrive as the backend framed them.
  # (websockets ends a message sent in pieces with an empty final continuation frame.)
  send_all($s, client_frame(1, '!frag ab,cde,f'));
  my @got = map { read_frame($s, 5, $buf) } 1 .. 4;
  is_deeply([map { $_ && [$_->{opcode}, $_->{fin}, $_->{payload}, $_->{masked}] } @got],
    [[1, 0, 'ab', 0], [0, 0, 'cde', 0], [0, 0, 'f', 0], [0, 1, '', 0]],
    'backend fragments reach the client frame by frame, unmasked');

  # Pings from the backend reach the client; its pong reaches the backend.
  send_all($s, client_frame(1, '!ping from-backend'));
  my ($ping) = frame_with($s, $buf, 9);
  is($ping && $ping->{payload}, 'from-backend', "the backend's ping reaches the client");
  send_all($s, client_frame(10, 'from-backend'));
  my $ev = $py->event('pong', $path);
  is($ev && $ev->{data}, 'from-backend', "and the client's pong reaches the backend");

  # Pings from the client are answered by the backend.
  send_all($s, client_frame(9, "client-ping \x00\xff"));
  ($pong) = frame_with($s, $buf, 10);
  is($pong && $pong->{payload}, "client-ping \x00\xff", "the client's ping is answered by the backend");

  my ($code) = raw_close($s, $buf, 1000);
  is($code, 1000, 'raw client close 1000 answered with 1000');
  my $closed = $py->event('closed', $path);
  is($closed && $closed->{code}, 1000, 'the backend received close 1000');
}

# ---- subprotocols ----
{
  my $path = tag('/root/proto');
  my $r = py_client($gw->url($path), protocols => ['x-unknown', 'superchat']);
  is($r->{subprotocol}, 'superchat', "the backend's subprotocol choice reaches the client")
    or diag explain $r;
  my $ev = $py->event('open', $path);
  is_deeply($ev && headers_of($ev->{headers})->{'sec-websocket-protocol'},
    ['x-unknown, superchat'], "with no route protocols the client's whole offer goes to the backend");

  $path = tag('/chat/room');
  $r = py_client($gw->url($path), protocols => ['superchat', 'chat']);
  is($r->{subprotocol}, 'chat', 'protocols = chat: the client gets chat') or diag explain $r;
  $ev = $py->event('open', $path);
  is_deeply($ev && headers_of($ev->{headers})->{'sec-websocket-protocol'}, ['chat'],
    'and only chat is offered to the backend');
}

# ---- the backend refuses ----
{
  my $s = raw_connect($port);
  raw_upgrade($s, tag('/root/refuse'));
  my $res = read_http_response($s, 5);
  is($res && $res->{status}, 403, "the backend's 403 reaches the client as 403");
  is($res && $res->{body}, "backend says no\n", 'with its body');
  is($res && $res->{headers}{'x-backend'}, 'refused', 'and its headers');
  ok(tcp_closed($s, $res && $res->{rest}), 'then wsgate closes the connection');
  # The log writer thread may be a moment behind the client.
  wait_for(3, sub { $gw->log_text =~ /answered 403/ });
  like($gw->log_text, qr/answered 403/, 'the error log names the refusal');
}

# ---- backend unreachable ----
{
  my $s = raw_connect($port);
  raw_upgrade($s, '/dead/x');
  my $res = read_http_response($s, 5);
  is($res && $res->{status}, 502, 'backend unreachable: 502');
  ok(tcp_closed($s, $res && $res->{rest}), 'and the connection closes');
}

# ---- request target ----
{
  my %cases = (
    '/root/a/b?x=1&y=2' => '/root/a/b?x=1&y=2',
    '/slash/c?q=z' => '/slash/c?q=z',
    '/rw/any/thing?a=1&b=2' => '/socket/v1?a=1&b=2',
    '/rw/no-query' => '/socket/v1',
  );
  for my $target (sort keys %cases) {
    my ($s, $buf, $res) = ws_open($port, $target);
    is($res && $res->{status}, 101, "$target: 101");
    my $h = $json->decode(ask($s, $buf, '!headers') // 'null');
    is($h && $h->{path}, $cases{$target}, "$target reaches the backend as $cases{$target}");
    raw_close($s, $buf);
  }
}

# ---- forwarding headers ----
sub request_with {
  my ($target, @lines) = @_;
  my $s = raw_connect($port);
  send_all($s, join("\r\n", "GET $target HTTP/1.1", @lines, '', ''));
  my $res = read_http_response($s, 5);
  my $buf = $res ? $res->{rest} : '';
  return ($s, \$buf, $res);
}

my @upgrade = ('Upgrade: websocket', 'Connection: Upgrade, X-Hop',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13');
{
  my ($s, $buf, $res) = request_with('/fwd/x', 'Host: gate.test:8443', @upgrade,
    'X-Forwarded-For: 203.0.113.7, 198.51.100.1', 'X-Forwarded-For: 198.51.100.2',
    'X-Forwarded-Proto: https', 'Forwarded: for=203.0.113.7', 'Origin: https://app.test',
    'Cookie: session=abc', 'Authorization: Bearer tok', 'Keep-Alive: timeout=5',
    'X-Hop: private', 'Proxy-Authorization: Basic eDp5', 'X-Keep: 1');
  is($res && $res->{status}, 101, 'forwarded = on: 101');
  my $r = $json->decode(ask($s, $buf, '!headers') // 'null');
  my $h = headers_of($r ? $r->{headers} : []);
  is_deeply($h->{'x-forwarded-for'}, ['127.0.0.1'],
    'X-Forwarded-For: a client outside trusted_proxies has its chain replaced (t/36 extends)');
  is_deeply($h->{'x-forwarded-proto'}, ['http'], 'X-Forwarded-Proto: http');
  is_deeply($h->{'x-forwarded-host'}, ['gate.test:8443'], "X-Forwarded-Host: the client's Host");
  is_deeply($h->{forwarded}, ['for=127.0.0.1;host="gate.test:8443";proto=http'],
    'Forwarded: replaced likewise');
  is_deeply($h->{host}, ["127.0.0.1:$py->{port}"], 'Host: the backend');
  is_deeply([map { $h->{$_} } qw(origin cookie authorization x-keep)],
    [['https://app.test'], ['session=abc'], ['Bearer tok'], ['1']],
    'Origin, Cookie, Authorization and other end-to-end fields pass');
  is_deeply([grep { $h->{$_} } qw(keep-alive x-hop proxy-authorization)], [],
    'hop-by-hop fields (and those named in Connection) do not');
  is_deeply($h->{connection}, ['Upgrade'], 'Connection: just Upgrade');
  raw_close($s, $buf);

  ($s, $buf, $res) = request_with('/root/nofwd', 'Host: gate.test', @upgrade,
    'X-Forwarded-For: 203.0.113.7', 'Forwarded: for=203.0.113.7');
  $r = $json->decode(ask($s, $buf, '!headers') // 'null');
  $h = headers_of($r ? $r->{headers} : []);
  is_deeply($h->{'x-forwarded-for'}, ['203.0.113.7'], 'forwarded = off: X-Forwarded-For untouched');
  is_deeply($h->{forwarded}, ['for=203.0.113.7'], 'and Forwarded untouched');
  is_deeply([grep { $h->{$_} } qw(x-forwarded-proto x-forwarded-host)], [], 'and nothing added');
  raw_close($s, $buf);

  # A Host that tries to add parameters to wsgate's Forwarded element: it must either be refused
  # or end up inside a properly escaped quoted-string (RFC 7239 section 4).
  ($s, $buf, $res) = request_with('/fwd/inject', 'Host: gate";for=6.6.6.6;x="', @upgrade);
  if ($res && $res->{status} == 101) {
    $r = $json->decode(ask($s, $buf, '!headers') // 'null');
    my ($fwd) = @{ headers_of($r ? $r->{headers} : [])->{forwarded} || [''] };
    (my $bare = $fwd) =~ s/"(?:[^"\\]|\\.)*"/Q/g;    # quoted-strings out of the way
    my @for = $bare =~ /(?:^|;)\s*for=/gi;
    is(scalar @for, 1, "a Host with a quote cannot inject for= into Forwarded")
      or diag "Forwarded: $fwd";
    raw_close($s, $buf);
  } else {
    is($res && $res->{status}, 400, 'a Host with a quote is refused');
  }
}

# ---- permessage-deflate ----
{
  my $big = 1 << 20;
  my $path = tag('/root/deflate');
  my $r = py_client($gw->url($path), compression => 'deflate',
    echo => [['text', $big], ['binary', $big], ['text', 10]]);
  ok(!$r->{error}, 'deflate client and server connect') or diag $r->{error};
  is_deeply($r->{extensions}, ['PerMessageDeflate'], 'permessage-deflate negotiated end to end');
  like($r->{ext_header} // '', qr/^permessage-deflate/, 'the 101 relays the extension');
  is_deeply([map { $_->[2] ? 1 : 0 } @{ $r->{results} || [] }], [1, 1, 1],
    'compressed echo of 1 MiB text, 1 MiB binary and a short text intact');
  my $ev = $py->event('open', $path);
  like($ev && $ev->{extensions} // '', qr/permessage-deflate/, 'the backend agreed to it');

  $path = tag('/nodeflate/x');
  $r = py_client($gw->url($path), compression => 'deflate', echo => [['text', $big]]);
  ok(!$r->{error}, 'deflate client, server without it') or diag $r->{error};
  is_deeply($r->{extensions}, [], 'extension stripped when the backend does not accept it');
  ok($r->{results}[0][2], 'echo works uncompressed');
  $ev = $plain->event('open', $path);
  like($ev && join(',', @{ headers_of($ev->{headers})->{'sec-websocket-extensions'} || [] }),
    qr/permessage-deflate/, 'the backend had been offered deflate');

  # Only deflate offers cross.
  my ($s, $buf, $res) = ws_open($port, tag('/nodeflate/extoffer'),
    'Sec-WebSocket-Extensions' => 'x-custom; a=1, permessage-deflate; client_max_window_bits');
  is($res && $res->{status}, 101, 'raw client offering two extensions: 101');
  my $h = headers_of(($json->decode(ask($s, $buf, '!headers') // 'null') || {})->{headers} || []);
  is_deeply($h->{'sec-websocket-extensions'}, ['permessage-deflate; client_max_window_bits'],
    'the backend sees only the permessage-deflate offer');
  ok($res && !exists $res->{headers}{'sec-websocket-extensions'},
    'and, declined there, the client gets no extension');
  raw_close($s, $buf);
}

# ---- close codes end to end ----
{
  my $path = tag('/root/bye');
  my ($s, $buf) = ws_open($port, $path);
  send_all($s, client_frame(1, '!close 4001 bye'));
  my ($code, $reason) = read_until_close($s, 5, $buf);
  is($code, 4001, 'the backend\'s close code reaches the client');
  is($reason, 'bye', 'with its reason');
  send_all($s, client_frame(8, close_payload(4001)));
  ok(tcp_closed($s, $buf), 'the closing handshake completes');
  # A client closes its end once it has the server's FIN; wsgate would otherwise wait
  # kCloseWaitMs (5 s) for it, as long as the wait for the log line below.
  close $s;
  my $ev = $py->event('closed', $path);
  is($ev && $ev->{code}, 4001, 'the backend received the client\'s close answer');
  ok(wait_for(5, sub { $gw->log_text =~ m{"/root/bye\?t=\d+" route=root .*status=101 .*close=4001 } }),
    'access log: close=4001') or diag $gw->log_text;
  like($gw->log_text, qr{"/root/bye\?t=\d+" route=root .*close=4001 "bye" msgs=1/0 by=backend }m,
    'access log: msgs= counts relayed data messages per direction (1 in, 0 out)');
}

# ---- idle_timeout ----
{
  my $path = tag('/idle/x');
  my ($s, $buf, $res) = ws_open($port, $path);
  is($res && $res->{status}, 101, 'idle route: 101');
  is(ask($s, $buf, 'still here'), 'still here', 'echo before going idle');
  my $t = time;
  my ($code) = read_until_close($s, 5, $buf);
  my $took = time - $t;
  is($code, 1001, 'idle_timeout = 1s: the client gets close 1001');
  ok($took > 0.7 && $took < 3, sprintf('after about a second (%.2fs)', $took));
  my $ev = $py->event('closed', $path);
  is($ev && $ev->{code}, 1001, 'and the backend gets close 1001');
}

# ---- ping_interval ----
{
  my $path = tag('/ka/x');
  my ($s, $buf, $res) = ws_open($port, $path);
  is($res && $res->{status}, 101, 'keepalive route: 101');
  my @pings;
  my $deadline = time + 1.3;
  while (time < $deadline) {
    my $f = read_frame($s, $deadline - time, $buf) or last;
    next unless $f->{opcode} == 9;
    push @pings, $f->{payload};
    send_all($s, client_frame(10, $f->{payload}));
  }
  ok(@pings >= 2, 'ping_interval = 500ms: the client gets wsgate\'s pings (' . @pings . ')');
  send_all($s, client_frame(10, 'unsolicited'));
  is(ask($s, $buf, 'alive?'), 'alive?', 'the session stays open when they are answered');
  my $ev = $py->event('pong', $path);
  is($ev && $ev->{data}, 'unsolicited', "the client's own pong reaches the backend");
  my @wsgate_pongs = grep { $_->{ev} eq 'pong' && index($_->{path}, $path) >= 0
      && $_->{data} ne 'unsolicited' } $py->events;
  is(scalar @wsgate_pongs, 0, "but pongs to wsgate's pings do not") or diag explain \@wsgate_pongs;
  raw_close($s, $buf);
}

{
  my $path = tag('/ka/silent');
  my ($s, $buf) = ws_open($port, $path);
  my ($code, undef, $frames) = read_until_close($s, 3, $buf);
  is($code, 1001, 'ping_interval = 500ms, pings not answered: the client gets 1001');
  ok((grep { $_->{opcode} == 9 } @$frames), 'after a ping');
  my $ev = $py->event('closed', $path);
  is($ev && $ev->{code}, 1001, 'and the backend gets close 1001');
}

{
  # Frames sent right behind the upgrade request are relayed once the backend has switched.
  my $s = raw_connect($port);
  raw_upgrade($s, tag('/root/pipelined'), -extra => client_frame(1, 'early bird'));
  my $res = read_http_response($s, 5);
  is($res && $res->{status}, 101, 'upgrade with a frame right behind it: 101');
  my $buf = $res ? $res->{rest} : '';
  my ($f) = frame_with($s, \$buf, 1);
  is($f && $f->{payload}, 'early bird', 'and the frame is relayed');
  raw_close($s, \$buf);
}

# ---- protocol errors ----
{
  my $path = tag('/root/unmasked');
  my ($s, $buf) = ws_open($port, $path);
  send_all($s, client_frame(1, 'no mask', unmasked => 1));
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1002, 'an unmasked client frame: the client gets 1002');
  my $ev = $py->event('closed', $path);
  ok($ev && $ev->{code} != 1006, 'and the backend gets a close frame (' . ($ev && $ev->{code}) . ')');

  $path = tag('/small/x');
  ($s, $buf) = ws_open($port, $path);
  is(ask($s, $buf, 'x' x 1024), 'x' x 1024, 'max_message_size = 1k: 1 KiB passes');
  send_all($s, client_frame(2, 'y' x 1025));
  ($code) = read_until_close($s, 5, $buf);
  is($code, 1009, 'a 1025-byte message: 1009');
  $ev = $py->event('closed', $path);
  ok($ev && $ev->{code} != 1006, 'and the backend gets a close frame');
}

# ---- one side vanishes ----
{
  my $path = tag('/root/vanish');
  my ($s, $buf) = ws_open($port, $path);
  is(ask($s, $buf, 'hi'), 'hi', 'client that will vanish: echo');
  close $s;
  my $ev = $py->event('closed', $path);
  is($ev && $ev->{code}, 1001, 'client vanishes: the backend gets close 1001');

  $path = tag('/root/reset');
  ($s, $buf) = ws_open($port, $path);
  send_all($s, client_frame(1, '!reset'));
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1011, 'backend resets the TCP connection: the client gets 1011');
  ok(tcp_closed($s, $buf), 'then the connection closes');

  my $doomed = backend('doomed');
  my $g2 = wsgate("[route r]\npath = /*\nbackend = ${\ $doomed->url }\n");
  ($s, $buf) = ws_open($g2->port, '/kill');
  is(ask($s, $buf, 'hi'), 'hi', 'backend to be killed: echo');
  $doomed->kill('KILL');
  ($code) = read_until_close($s, 5, $buf);
  ok(defined $code && ($code == 1001 || $code == 1011),
    'backend process killed: the client gets 1001 or 1011 (' . ($code // 'none') . ')');
  ok(tcp_closed($s, $buf), 'then the connection closes');
  is($g2->stop('TERM'), 0, 'that wsgate stops cleanly');
}

# ---- slow client, flooding backend ----
{
  my ($s, $buf) = ws_open($port, tag('/root/flood'));
  is(ask($s, $buf, 'ready'), 'ready', 'flood session open');
  my $before = rss_kib($gw->pid);
  send_all($s, client_frame(1, '!flood 4000'));
  my $max = $before;
  my $end = time + 3;
  while (time < $end) {
    my $r = rss_kib($gw->pid);
    $max = $r if $r > $max;
    sleep 0.1;
  }
  my $grew = $max - $before;
  ok($grew < 16 * 1024, "slow client, flooding backend: wsgate RSS grew by $grew KiB (< 16 MiB)");
  # Read some of it: the flood is really flowing.
  my $got = 0;
  while ($got < 8 << 20) {
    my $f = read_frame($s, 5, $buf) or last;
    $got += length $f->{payload};
  }
  ok($got >= 8 << 20, 'and the flood flows once the client reads');
  close $s;
}

# ---- misbehaving backends (raw sockets) ----
#
# A backend that reads the upgrade request and runs $script->($sock, $accept, $head); what it
# receives afterwards, until EOF, goes to $dir/$name.rx.
sub raw_backend {
  my ($name, $script) = @_;
  return start_server(sub {
    my $c = shift;
    my $head = '';
    while ($head !~ /\r\n\r\n/) { sysread($c, $head, 4096, length $head) or return }
    my ($key) = $head =~ /^Sec-WebSocket-Key:\s*(\S+)/mi;
    my $accept = Digest::SHA::sha1_base64(($key // '') . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
    $script->($c, $accept, $head);
    open my $fh, '>>:raw', "$dir/$name.rx" or die;
    while (sysread($c, my $b, 65536)) { syswrite($fh, $b) }
    close $fh;
    open my $e, '>', "$dir/$name.rx.end" or die;
    close $e;
  });
}

sub switching {
  my ($accept, @extra) = @_;
  return join("\r\n", 'HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket',
    'Connection: Upgrade', "Sec-WebSocket-Accept: $accept", @extra, '', '');
}

sub server_frame {
  my ($op, $payload, %o) = @_;
  my $len = length $payload;
  my $b0 = (($o{fin} // 1) ? 0x80 : 0) | $op;
  return pack('CC', $b0, $len) . $payload if $len < 126;
  return pack('CCn', $b0, 126, $len) . $payload if $len < 65536;
  return pack('CCQ>', $b0, 127, $len) . $payload;
}

# The frames a raw backend received (masked, as wsgate sent them), unmasked.
sub received_frames {
  my ($name) = @_;
  my $data = slurp("$dir/$name.rx") // '';
  my @frames;
  while (length $data >= 2) {
    my ($b0, $b1) = unpack('CC', $data);
    my ($len, $off) = ($b1 & 0x7f, 2);
    if ($len == 126) { $len = unpack('x2n', $data); $off = 4 }
    elsif ($len == 127) { $len = unpack('x2Q>', $data); $off = 10 }
    my $mask = ($b1 & 0x80) ? substr($data, $off, 4) : undef;
    $off += 4 if defined $mask;
    last if length($data) < $off + $len;
    my $p = substr($data, $off, $len);
    $p ^= substr($mask x ($len / 4 + 1), 0, $len) if defined $mask;
    push @frames, { opcode => $b0 & 0x0f, masked => defined $mask ? 1 : 0, payload => $p };
    substr($data, 0, $off + $len, '');
  }
  return @frames;
}

sub received_close {
  my ($name) = @_;
  wait_for(5, sub { -e "$dir/$name.rx.end" });
  my ($c) = grep { $_->{opcode} == 8 } received_frames($name);
  return $c && length $c->{payload} >= 2 ? (unpack('n', $c->{payload}), $c->{masked}) : (undef);
}

{
  require Digest::SHA;
  my %raw = (
    greet => sub { send_all($_[0], switching($_[1]) . server_frame(1, 'greeting')) },
    interim => sub {
      send_all($_[0], "HTTP/1.1 100 Continue\r\n\r\n");
      sleep 0.1;
      send_all($_[0], "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        . switching($_[1]) . server_frame(1, 'after interim'));
    },
    interims => sub { send_all($_[0], "HTTP/1.1 100 Continue\r\n\r\n" x 6 . switching($_[1])) },
    badaccept => sub { send_all($_[0], switching('dGhlIHNhbXBsZSBub25jZQ==')) },
    badproto => sub { send_all($_[0], switching($_[1], 'Sec-WebSocket-Protocol: nope')) },
    badext => sub { send_all($_[0], switching($_[1], 'Sec-WebSocket-Extensions: x-custom')) },
    garbage => sub { send_all($_[0], "SSH-2.0-OpenSSH_9.2\r\n\r\n") },
    badext2 => sub {
      send_all($_[0], switching($_[1], 'Sec-WebSocket-Extensions: permessage-deflate',
        'Sec-WebSocket-Extensions: x-custom'));
    },
    hugehead => sub { send_all($_[0], switching($_[1], 'X-Big: ' . ('b' x 9000))) },
    silent => sub { sleep 3 },
    hangup => sub { shutdown($_[0], 2) },
    noclen => sub {
      send_all($_[0], "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\nlogin first");
      shutdown($_[0], 1);
    },
    masked => sub { send_all($_[0], switching($_[1]) . client_frame(1, 'masked from server')) },
    bigping => sub { send_all($_[0], switching($_[1]) . server_frame(9, 'p' x 126)) },
    badclose => sub { send_all($_[0], switching($_[1]) . server_frame(8, pack('n', 1005))) },
    noanswer => sub { send_all($_[0], switching($_[1])) },
    trickle => sub {
      # Two 1 MiB messages, each trickled out over about 0.8 s.
      send_all($_[0], switching($_[1]));
      for my $fill ("\x11", "\x22") {
        send_all($_[0], pack('CCQ>', 0x82, 127, 1 << 20));
        for (1 .. 16) { send_all($_[0], $fill x 65536); sleep 0.05 }
      }
    },
    slowreader => sub { send_all($_[0], switching($_[1])); sleep 4 },
  );
  my %srv = map { $_ => raw_backend($_, $raw{$_}) } keys %raw;
  my $ini2 = join '', map {
    "[route $_]\npath = /$_\nbackend = ws://127.0.0.1:${\ $srv{$_}->port }\nhandshake_timeout = 1s\n"
      . ($_ eq 'trickle' ? "ping_interval = 300ms\n" : '') . "\n"
  } sort keys %srv;
  my $g = wsgate($ini2);
  my $p = $g->port;

  my ($s, $buf, $res) = ws_open($p, '/greet');
  is($res && $res->{status}, 101, 'backend sending its 101 and a first frame together: 101');
  my $f = length($buf ? $$buf : '') ? read_frame($s, 2, $buf) : read_frame($s, 2, $buf);
  is($f && $f->{payload}, 'greeting',
    'the frame that came in the same segment as the 101 reaches the client');
  close $s;

  ($s, $buf, $res) = ws_open($p, '/interim');
  is($res && $res->{status}, 101, 'backend sending 100 and 103 before its 101: the client gets the 101');
  $f = read_frame($s, 2, $buf);
  is($f && $f->{payload}, 'after interim', '... and then the first frame, not an interim head');
  close $s;
  ($s, $buf, $res) = ws_open($p, '/interims');
  is($res && $res->{status}, 502, 'six interim answers in a row: 502');
  close $s;

  for my $case (['badaccept', 502, 'a wrong Sec-WebSocket-Accept'],
    ['badproto', 502, 'a subprotocol nobody offered'],
    ['badext', 502, 'an extension nobody offered'],
    ['garbage', 502, 'a non-HTTP answer'],
    ['badext2', 502, 'an unoffered extension in a second Extensions field'],
    ['hugehead', 502, 'a head over 8 KiB'],
    ['hangup', 502, 'a hang-up instead of an answer'],
    ['silent', 504, 'no answer within handshake_timeout']) {
    my ($path, $want, $what) = @$case;
    my ($s, $buf, $res) = ws_open($p, "/$path", 'Sec-WebSocket-Protocol' => 'chat',
      'Sec-WebSocket-Extensions' => 'permessage-deflate');
    my $st = $res ? $res->{status} : 0;
    is($st, $want, "backend answering with $what: $want");
    SKIP: {
      skip "$path: the session was opened", 1 if $st == 101;
      ok(tcp_closed($s, $res && $res->{rest}), "$path: then the connection closes");
    }
  }

  ($s, $buf, $res) = ws_open($p, '/noclen');
  is($res && $res->{status}, 401, 'a refusal without Content-Length: status relayed');
  my $body = $res ? $res->{rest} : '';
  my $sel = IO::Select->new($s);
  while ($sel->can_read(3)) { sysread($s, $body, 4096, length $body) or last }
  is($body, 'login first', 'its body relayed up to the backend\'s EOF');
  is($res && $res->{headers}{'www-authenticate'}, 'Basic', 'with its headers');

  for my $case (['masked', 'a masked frame'], ['bigping', 'a 126-byte ping'],
    ['badclose', 'close code 1005']) {
    my ($path, $what) = @$case;
    my ($s, $buf, $res) = ws_open($p, "/$path");
    is($res && $res->{status}, 101, "$path: 101");
    my ($code) = read_until_close($s, 5, $buf);
    is($code, 1011, "backend sending $what: the client gets 1011");
    my ($bcode, $masked) = received_close($path);
    is($bcode, 1002, "$path: the backend gets 1002");
    ok($masked, "$path: in a masked close frame");
  }

  # ping_interval = 300ms while the backend trickles two 1 MiB frames: wsgate's pings wait for
  # the frame in flight to end and go between the frames, never inside one.
  ($s, $buf) = ws_open($p, '/trickle');
  my (@data, $pings);
  my $t = time;
  while (@data < 2) {
    my $f = read_frame($s, 5, $buf) or last;
    if ($f->{opcode} == 9) {
      $pings++;
      send_all($s, client_frame(10, $f->{payload}));
      next;
    }
    push @data, $f;
  }
  is_deeply([map { [$_->{opcode}, $_->{fin}, length $_->{payload}] } @data],
    [[2, 1, 1 << 20], [2, 1, 1 << 20]], 'ping_interval with a trickling backend: both frames whole');
  ok(@data == 2 && $data[0]{payload} eq "\x11" x (1 << 20) && $data[1]{payload} eq "\x22" x (1 << 20),
    'and intact');
  ok($pings, sprintf('with %d ping(s) between them over %.1fs', $pings // 0, time - $t));
  my ($later) = frame_with($s, $buf, 9, 2);
  ok($later, 'the pings go on once the stream ends');
  send_all($s, client_frame(10, $later ? $later->{payload} : ''));
  send_all($s, client_frame(8, close_payload(1000)));
  my ($bcode) = received_close('trickle');
  is($bcode, 1000, 'the session was alive to the end: the backend gets the client\'s close');
  close $s;

  # The client closes; the backend never answers: wsgate gives up after a while.
  ($s, $buf) = ws_open($p, '/noanswer');
  send_all($s, client_frame(8, close_payload(1000, 'bye')));
  $t = time;
  my ($code) = read_until_close($s, 8, $buf);
  ok(defined $code && $code != -1, 'backend never answering the close: wsgate answers it itself ('
      . ($code // 'empty') . sprintf(', after %.1fs)', time - $t));
  ok(tcp_closed($s, $buf, 3), 'and lets the client go');
  ($bcode) = received_close('noanswer');
  is($bcode, 1000, 'the backend got the client\'s close 1000 (masked, relayed)');

  # A client flooding a backend that does not read: bounded memory.
  ($s, $buf) = ws_open($p, '/slowreader');
  $s->blocking(0);
  my $before = rss_kib($g->pid);
  my $frame = client_frame(2, 'z' x 65536);
  my ($sent, $max, $pending) = (0, $before, '');
  my $end = time + 2.5;
  while (time < $end) {
    $pending = $frame if $pending eq '';
    my $n = syswrite($s, $pending);
    if ($n) { substr($pending, 0, $n, ''); $sent += $n } else { sleep 0.01 }
    my $r = rss_kib($g->pid);
    $max = $r if $r > $max;
  }
  my $grew = $max - $before;
  ok($grew < 16 * 1024,
    "client flooding a backend that does not read: RSS grew by $grew KiB (< 16 MiB) after "
      . int($sent / 1024) . ' KiB sent');
  close $s;
  is($g->stop('TERM'), 0, 'the wsgate for raw backends stops cleanly') or diag $g->log_text;
}

{
  # SIGTERM with a proxied session open: both sides get 1001.
  my $path = tag('/root/shutdown');
  my ($s, $buf) = ws_open($port, $path);
  is(ask($s, $buf, 'up'), 'up', 'a session open when wsgate stops');
  kill 'TERM', $gw->pid;
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1001, 'SIGTERM: the client gets close 1001');
  my $ev = $py->event('closed', $path);
  is($ev && $ev->{code}, 1001, 'and the backend gets close 1001');
  send_all($s, client_frame(8, close_payload(1001)));
  close $s;
}
is($gw->stop('TERM'), 0, 'wsgate stops cleanly') or diag $gw->log_text;
diag sprintf('70-proxy.t took %.1fs', time - $T0);
done_testing;
