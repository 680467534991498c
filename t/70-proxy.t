# ws:// proxy mode against a real WebSocket server from an independent library
# (python3-websockets, t/lib/PyProxyPeers.pm): the proxied handshake (target, forwarding headers,
# subprotocol, permessage-deflate, refusals) and the frame relay (echo, fragments, pings both
# ways, close codes). The lifecycle is in 71-proxy-lifecycle.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use PyProxyPeers;
use WsgateTest;

plan skip_all => 'needs /usr/bin/python3 with websockets' unless py_ready();

my $T0 = time;
my $json = JSON::PP->new->utf8->canonical;

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

is($gw->stop('TERM'), 0, 'wsgate stops cleanly') or diag $gw->log_text;
diag sprintf('70-proxy.t took %.1fs', time - $T0);
done_testing;
