# hybi-00 (hixie-76) clients: the handshake (the draft's challenge vectors, key3 in any split,
# the key checks), the 0x00..0xFF framing (length-prefixed and other frames discarded, UTF-8,
# size limit, closing handshake) and the timers. Bridged routes and transcoding to an RFC 6455
# backend are in 82-hybi00-bridge.t. The hybi-00 client is Perl's Protocol::WebSocket
# (handshake and frames, t/lib/Hybi00Client.pm); raw bytes for what a polite client never sends.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Select;
use Time::HiRes qw(sleep time);
use Hybi00Client;
use WsgateTest;

my $T0 = time;

# ---- backends and gateway ----

my $echo = tcp_echo_server();
my $dead_port = empty_port();

my $ini = <<"INI";
[route echo]
path = /echo/*
backend = echo

[route chat]
path = /chat/*
backend = echo
protocols = chat

[route small]
path = /small/*
backend = echo
max_message_size = 1k

[route idle]
path = /idle/*
backend = echo
idle_timeout = 1s

[route ping]
path = /ping/*
backend = echo
ping_interval = 1s
idle_timeout = 10s

[route picky]
path = /picky/*
backend = echo
origins = http://good.example

[route b64]
path = /b64/*
backend = ${\ $echo->backend }
type = binary

[route dead]
path = /dead/*
backend = tcp://127.0.0.1:$dead_port
INI

my $gw = wsgate($ini, server => "handshake_timeout = 2s\n");
my $port = $gw->port;
h00_gateway($gw);
my $CLOSE = h00_close();
is(unpack('H*', $CLOSE), 'ff00', 'Protocol::WebSocket encodes the hybi-00 closing frame as ff 00');
is(unpack('H*', h00_text("ab")), '006162ff', 'and a text frame as 00 <bytes> ff');

# ==== 1. echo route: round trips and the 101's fields ====
{
  my $c = h00_open('/echo/basic?x=1&y=two', origin => 'http://app.example');
  ok($c->{ok}, 'Protocol::WebSocket completes the hybi-00 handshake and accepts the challenge')
    or diag $c->{error};
  my $res = $c->{res};
  is($res && $res->{line}, 'HTTP/1.1 101 WebSocket Protocol Handshake', 'exact 101 status line');
  is(hv($res, 'Upgrade'), 'WebSocket', 'Upgrade: WebSocket');
  is(hv($res, 'Connection'), 'Upgrade', 'Connection: Upgrade');
  is(hv($res, 'Sec-WebSocket-Origin'), 'http://app.example', 'Sec-WebSocket-Origin echoes Origin');
  is(hv($res, 'Sec-WebSocket-Location'), "ws://127.0.0.1:$port/echo/basic?x=1&y=two",
    'Sec-WebSocket-Location: ws://Host + path?query');
  ok(!exists $res->{headers}{'sec-websocket-protocol'}, 'no Sec-WebSocket-Protocol when none offered');
  ok(!exists $res->{headers}{'sec-websocket-accept'}, 'no RFC 6455 Sec-WebSocket-Accept');
  is($c->{buf}, '', 'nothing follows the 16 challenge bytes');

  is(ask($c, 'hello'), 'hello', 'text frame echoed');
  my $m;
  send_all($c->{s}, h00_text(''));
  $m = next_msg($c, 5);
  ok($m && defined $m->{text} && $m->{text} eq '', 'empty frame 00 ff echoed as 00 ff')
    or diag explain $m;
  my $utf8 = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad";
  is(ask($c, $utf8), $utf8, 'UTF-8 with 2-, 3- and 4-byte characters echoed byte-exact');
  send_all($c->{s}, h00_text('one') . h00_text('two') . h00_text('three'));
  is_deeply([map { my $x = next_msg($c, 5); $x && $x->{text} } 1 .. 3], [qw(one two three)],
    'three frames in one write: three echoes, in order');
  my $big = 'x' x 100_000;
  send_all($c->{s}, h00_text($big));
  my ($echoed, $nframes) = read_texts($c, length $big);
  ok($echoed eq $big, "100 kB frame echoed ($nframes frames)");
  send_all($c->{s}, $CLOSE);
  ends_with_close($c, 'echo session');
}

# Origin absent: "null"; Host as sent goes into the Location.
{
  my $s = raw_connect($port);
  send_all($s, h00_raw_request(Origin => undef, Host => 'Gate.Example:8080',
    -target => '/echo/loc/a%20b?q=1&r'));
  my $res = read_h00_response($s, 5);
  is($res && $res->{status}, 101, 'no Origin: still 101');
  is(hv($res, 'Sec-WebSocket-Origin'), 'null', 'no Origin: Sec-WebSocket-Origin: null');
  is(hv($res, 'Sec-WebSocket-Location'), 'ws://Gate.Example:8080/echo/loc/a%20b?q=1&r',
    'Location uses the Host header as sent and the target with its query');
  is($res && $res->{challenge}, "8jKS'y:G*Co,Wxa-", 'and the challenge is right');
}

# Subprotocols.
{
  my $c = h00_open('/chat/p', protocol => 'chat');
  ok($c->{ok}, 'route with protocols = chat: handshake verified');
  is(hv($c->{res}, 'Sec-WebSocket-Protocol'), 'chat', 'offered and accepted: Sec-WebSocket-Protocol: chat');
  is(ask($c, 'in chat'), 'in chat', 'and the session works');

  $c = h00_open('/chat/q');
  ok($c->{ok}, 'protocols route, nothing offered: handshake verified');
  ok(!exists $c->{res}{headers}{'sec-websocket-protocol'}, 'not offered: no Sec-WebSocket-Protocol');

  $c = h00_open('/chat/r', protocol => 'superchat');
  ok($c->{ok}, 'offer the route does not accept: still 101');
  ok(!exists $c->{res}{headers}{'sec-websocket-protocol'}, 'not accepted: no Sec-WebSocket-Protocol');

  $c = h00_open('/echo/s', protocol => 'chat');
  ok(!exists $c->{res}{headers}{'sec-websocket-protocol'},
    'echo route without protocols: an offer is not accepted');

  $c = h00_open('/b64/p', protocol => 'base64');
  is(hv($c->{res}, 'Sec-WebSocket-Protocol'), 'base64', 'tcp:// route without protocols accepts base64');
  $c = h00_open('/b64/q', protocol => 'binary');
  ok($c->{ok} && !exists $c->{res}{headers}{'sec-websocket-protocol'},
    'but not binary for a hybi-00 client');
}

# ==== 2. the draft's challenge vectors, raw ====
{
  my @vectors = (
    ['4 @1  46546xW%0l 1 5', '12998 5 Y3 1  .P00', '^n:ds[4U', "8jKS'y:G*Co,Wxa-"],
    ['18x 6]8vM;54 *(5:  {   U1]8  z [  8', '1_ tx7X d  <  nw  334J702) 7]o}` 0', 'Tm[K T2u',
      'fQJ,fN/4F4!~K~MH'],
  );
  my $i = 0;
  for my $v (@vectors) {
    my ($k1, $k2, $k3, $want) = @$v;
    $i++;
    is(challenge($k1, $k2, $k3), $want, "vector $i: the test's own MD5 agrees with the draft");
    my $s = raw_connect($port);
    send_all($s, h00_raw_request('Sec-WebSocket-Key1' => $k1, 'Sec-WebSocket-Key2' => $k2,
      'Sec-WebSocket-Protocol' => 'sample', -key3 => $k3, -target => "/echo/demo$i"));
    my $res = read_h00_response($s, 5);
    is($res && $res->{line}, 'HTTP/1.1 101 WebSocket Protocol Handshake', "vector $i: 101");
    is($res && $res->{challenge}, $want, "vector $i: response body is $want");
    is(hv($res, 'Sec-WebSocket-Location'), "ws://example.com/echo/demo$i", "vector $i: Location");
    is(hv($res, 'Sec-WebSocket-Origin'), 'http://example.com', "vector $i: Origin echoed");
    ok(!exists $res->{headers}{'sec-websocket-protocol'}, "vector $i: 'sample' not accepted, not named");
    is($res && $res->{rest}, '', "vector $i: nothing after the challenge");
  }
  # Key numbers at the edge of 32 bits: 4294967295 is allowed, also as 8589934590 / 2; and 0.
  # The draft skips only the one space after the colon: every other space counts, also a second
  # one there or one at the end (where HTTP would trim them).
  for my $k (['4294967 295', '85899 345 90'], ['0 0', '3 3'], ['a1b 2c', '-2- 4- 6-- 9-'],
    [' 12 34', '1 2'], ['4294967295 ', '1 2 '], ['12 34 ', '1 2']) {
    my $s = raw_connect($port);
    send_all($s, h00_raw_request('Sec-WebSocket-Key1' => $k->[0], 'Sec-WebSocket-Key2' => $k->[1],
      -key3 => 'ABCDEFGH'));
    my $res = read_h00_response($s, 5);
    is($res && $res->{status}, 101, "keys '$k->[0]' / '$k->[1]': 101");
    is(unpack('H*', $res ? $res->{challenge} : ''), unpack('H*', challenge(@$k, 'ABCDEFGH')),
      "keys '$k->[0]' / '$k->[1]': challenge of " . key_number($k->[0]) . ' and ' . key_number($k->[1]));
  }
}

# ==== 3. key3 split from the head ====
{
  my $split = sub {
    my ($name, $writer, $extra) = @_;
    my $hs = h00_handshake("/echo/split");
    my $req = $hs->to_string;
    my $s = nodelay(raw_connect($port));
    $writer->($s, $req);
    my $c = h00_finish($s, $hs, 5);
    ok($c->{ok}, "$name: handshake verified by Protocol::WebSocket") or diag $c->{error};
    is(ask($c, "after $name"), "after $name", "$name: session echoes");
    return $c;
  };

  my ($early, $early_got);
  $split->('head, pause, key3', sub {
    my ($s, $req) = @_;
    send_all($s, substr($req, 0, -8));
    $early = read_h00_response($s, 0.4, \$early_got);
    send_all($s, substr($req, -8));
  });
  ok(!$early && !length($early_got // ''), 'nothing is answered before key3 arrives');

  $split->('head + 3 bytes of key3, pause, 5 bytes', sub {
    my ($s, $req) = @_;
    send_all($s, substr($req, 0, -5));
    sleep 0.2;
    send_all($s, substr($req, -5));
  });

  $split->('key3 byte by byte', sub {
    my ($s, $req) = @_;
    send_all($s, substr($req, 0, -8));
    for my $b (split //, substr($req, -8)) { sleep 0.03; send_all($s, $b) }
  });

  $split->('whole request byte by byte', sub {
    my ($s, $req) = @_;
    for my $b (split //, $req) { send_all($s, $b); sleep 0.001 }
  });

  # key3 in the same write as the first frames.
  my $hs = h00_handshake('/echo/together');
  my $s = nodelay(raw_connect($port));
  send_all($s, $hs->to_string . h00_text('first') . h00_text("second \xc3\xa9"));
  my $c = h00_finish($s, $hs, 5);
  ok($c->{ok}, 'key3 and two frames in one write: handshake verified') or diag $c->{error};
  is_deeply([map { my $m = next_msg($c, 5); $m && $m->{text} } 1 .. 2], ['first', "second \xc3\xa9"],
    'key3 and two frames in one write: both frames echoed after the 101');

  # key3 and the first frame split across writes in the middle of both.
  $hs = h00_handshake('/echo/together2');
  $s = nodelay(raw_connect($port));
  my $all = $hs->to_string . h00_text('straddle');
  my $cut = length($all) - length(h00_text('straddle')) - 4;
  send_all($s, substr($all, 0, $cut));
  sleep 0.2;
  send_all($s, substr($all, $cut, 7));
  sleep 0.2;
  send_all($s, substr($all, $cut + 7));
  $c = h00_finish($s, $hs, 5);
  ok($c->{ok}, 'key3 tail and a frame head in one write: handshake verified');
  my $m = next_msg($c, 5);
  is($m && $m->{text}, 'straddle', 'key3 tail and a frame head in one write: frame echoed');
}

# ==== 4. bad requests: answered at once, without key3 ====
{
  my @bad = (
    ['Key1 without spaces', 400, 'Sec-WebSocket-Key1' => '1234567890'],
    ['Key2 without spaces', 400, 'Sec-WebSocket-Key2' => 'abc12'],
    ['Key1 digits not a multiple of its spaces (135 / 2)', 400, 'Sec-WebSocket-Key1' => '1 3 5'],
    ['Key2 digits not a multiple of its spaces (12345 / 4)', 400, 'Sec-WebSocket-Key2' => '1 2 3 4 5'],
    ['Key2 quotient 2^32', 400, 'Sec-WebSocket-Key2' => '429496 7296'],
    ['Key1 quotient 2^32 (8589934592 / 2)', 400, 'Sec-WebSocket-Key1' => '85899 345 92'],
    ['Key1 of 30 digits / 3 spaces, far over 2^32', 400,
      'Sec-WebSocket-Key1' => '111111111 111111111 111111111 111'],
    ['Key2 missing', 400, 'Sec-WebSocket-Key2' => undef],
    ['Key1 missing', 400, 'Sec-WebSocket-Key1' => undef],
    ['Key1 twice', 400, -extra => ['Sec-WebSocket-Key1: 1 2']],
    ['two Origins', 400, -extra => ['Origin: http://other.example']],
    ['malformed Sec-WebSocket-Protocol', 400, 'Sec-WebSocket-Protocol' => 'a b'],
    ['no Connection: Upgrade', 400, 'Connection' => 'keep-alive'],
    ['Upgrade: h2c', 426, 'Upgrade' => 'h2c'],
    ['no Upgrade', 426, 'Upgrade' => undef],
    ['Upgrade not WebSocket and bad key', 426, 'Upgrade' => 'websocket2',
      'Sec-WebSocket-Key1' => 'nospace'],
    ['origin not allowed', 403, -target => '/picky/x', 'Origin' => 'http://evil.example'],
  );
  for my $b (@bad) {
    my ($name, $code, %h) = @$b;
    my $s = raw_connect($port);
    my $t = time;
    send_all($s, h00_raw_request(%h, -key3 => undef));
    my $res = read_h00_response($s, 1.5);
    like($res && $res->{line}, qr{^HTTP/1\.1 $code \S}, "$name: $code without waiting for key3")
      or diag explain $res;
    cmp_ok(time - $t, '<', 1.5, "$name: answered in under 1.5 s (handshake_timeout is 2 s)");
  }
  # An unreachable backend: 502 once the request is complete.
  my $d = raw_connect($port);
  send_all($d, h00_raw_request(-target => '/dead/x'));
  my $dres = read_h00_response($d, 5);
  like($dres && $dres->{line}, qr{^HTTP/1\.1 502 }, 'backend unreachable: 502');
  # A lowercase Upgrade token is fine ("any case").
  my $s = raw_connect($port);
  send_all($s, h00_raw_request('Upgrade' => 'websocket', -target => '/echo/lc'));
  my $res = read_h00_response($s, 5);
  is($res && $res->{line}, 'HTTP/1.1 101 WebSocket Protocol Handshake', 'Upgrade: websocket (lowercase): 101');
  is($res && $res->{challenge}, "8jKS'y:G*Co,Wxa-", 'and the challenge is right');
  # The allowed origin passes.
  $s = raw_connect($port);
  send_all($s, h00_raw_request(-target => '/picky/y', 'Origin' => 'http://good.example'));
  $res = read_h00_response($s, 5);
  is($res && $res->{status}, 101, 'allowed origin: 101');
}

# ==== 5. closing handshake ====
{
  my $c = h00_open('/echo/bye');
  is(ask($c, 'before'), 'before', 'close: session works');
  send_all($c->{s}, "\xff\x00");
  ends_with_close($c, 'client ff 00');
  access_close_is('/echo/bye', 1005, 'client ff 00');

  $c = h00_open('/echo/bye-split');
  send_all($c->{s}, "\xff");
  sleep 0.2;
  ok(silent_for($c, 0.1), 'half a closing frame (ff): nothing yet');
  send_all($c->{s}, "\x00");
  ends_with_close($c, 'ff, pause, 00');

  $c = h00_open('/echo/bye-after', extra => h00_text('last words') . $CLOSE);
  my $m = next_msg($c, 5);
  is($m && $m->{text}, 'last words', 'frame then ff 00 in the handshake write: the frame is echoed first');
  ends_with_close($c, 'frame then ff 00');
}

# ==== 6. frames wsgate reads and discards ====
{
  my $c = h00_open('/echo/discard');
  my @cases = (
    ['length-prefixed 80 05 hello', "\x80\x05hello"],
    ['length 0 (80 00)', "\x80\x00"],
    ['two-byte length 80 81 00 + 128 bytes', "\x80\x81\x00" . ('z' x 128)],
    ['three-byte length 80 81 80 01 + 16385 bytes', "\x80\x81\x80\x01" . ('y' x 16385)],
    ['type 85, length 2 with ff 00 inside', "\x85\x02\xff\x00"],
    ['length frame holding 00 .. ff 00', "\x80\x07\x00fake\xff\x00"],
    ['ff with a non-zero length (ff 03 abc)', "\xff\x03abc"],
    ['type 01 to ff', "\x01abc\xff"],
    ['type 7f with UTF-8-invalid bytes', "\x7f\xc3\x28\xfe\xff"],
  );
  for my $case (@cases) {
    my ($name, $bytes) = @$case;
    send_all($c->{s}, $bytes . h00_text("after $name"));
    my $m = next_msg($c, 5);
    is($m && $m->{text}, "after $name", "$name: discarded, the following text frame is echoed");
  }
  # A length and its frame cut across writes.
  for my $part ("\x80\x81", "\x00" . ('w' x 60), 'w' x 68) { send_all($c->{s}, $part); sleep 0.1 }
  send_all($c->{s}, h00_text('after split length frame'));
  my $m = next_msg($c, 5);
  is($m && $m->{text}, 'after split length frame', 'length frame across writes: discarded');
  ok(silent_for($c, 0.2), 'and nothing else was sent for any discarded frame');
  send_all($c->{s}, $CLOSE);
  ends_with_close($c, 'after discarded frames');
}

# ==== 7. invalid UTF-8 and max_message_size ====
{
  my @bad = (
    ['C3 28', "\x00ok \xc3\x28 rest\xff"],
    ['lone continuation byte', "\x00\x80\xff"],
    ['overlong C0 AF, no end byte yet (fail fast)', "\x00abc\xc0\xaf"],
    ['surrogate ED A0 80', "\x00\xed\xa0\x80\xff"],
    ['above U+10FFFF (F4 90 80 80)', "\x00\xf4\x90\x80\x80\xff"],
    ['truncated character before the end byte', "\x00\xe2\x82\xff"],
  );
  my $n = 0;
  for my $b (@bad) {
    my ($name, $bytes) = @$b;
    $n++;
    my $c = h00_open("/echo/utf8-$n");
    is(ask($c, 'valid first'), 'valid first', "invalid UTF-8 ($name): session works before");
    send_all($c->{s}, $bytes);
    my $before = ends_with_close($c, "invalid UTF-8 ($name)");
    is(scalar @$before, 0, "invalid UTF-8 ($name): nothing echoed");
    access_close_is("/echo/utf8-$n", 1007, "invalid UTF-8 ($name)");
  }
  like($gw->log_text, qr/closing with 1007/, 'error log: "closing with 1007"');

  my $c = h00_open('/small/exact');
  my $k = 'k' x 1024;
  is(ask($c, $k), $k, 'max_message_size = 1k: a 1024-byte frame is echoed');
  send_all($c->{s}, "\x00" . ('k' x 1025) . "\xff");
  ends_with_close($c, '1025-byte text frame over max_message_size = 1k');
  access_close_is('/small/exact', 1009, 'oversized text frame');

  $c = h00_open('/small/noend');
  send_all($c->{s}, "\x00" . ('k' x 1100));
  ends_with_close($c, '1100 bytes of an unfinished text frame');

  $c = h00_open('/small/len');
  send_all($c->{s}, "\x80\x90\x01");    # a length of 16 * 128 + 1 = 2049, no payload sent
  ends_with_close($c, 'length-prefixed frame of 2049 bytes announced');
  access_close_is('/small/len', 1009, 'oversized length');
  like($gw->log_text, qr/closing with 1009/, 'error log: "closing with 1009"');
}

# ==== 10. idle_timeout, no pings for hybi-00, handshake_timeout: side by side ====
{
  my $timers = time;
  my $nokey3 = raw_connect($port);
  send_all($nokey3, h00_raw_request(-target => '/echo/nokey3', -key3 => 'abc'));
  my $idle = h00_open('/idle/silent');
  ok($idle->{ok}, 'idle_timeout route: handshake verified');
  my $pinged = h00_open('/ping/h00');
  ok($pinged->{ok}, 'ping_interval route: handshake verified');
  my ($rfc, $rfcbuf, $rfcres) = ws_open($port, '/ping/rfc6455');
  is($rfcres && $rfcres->{status}, 101, 'ping_interval route: an RFC 6455 client also connects');

  my $m = next_msg($idle, 4);
  my $t = time - $timers;
  ok($m && $m->{close}, 'idle_timeout = 1s: a silent hybi-00 client gets ff 00')
    or diag explain $m;
  ok(tcp_closed($idle->{s}, $idle->{buf}, 3), 'idle_timeout: then TCP closes');
  close $idle->{s};
  ok($t > 0.9 && $t < 2.5, sprintf('idle_timeout: closed after %.1f s', $t));
  access_close_is('/idle/silent', 1001, 'idle_timeout');
  like($gw->log_text, qr/closing with 1001: idle timeout/, 'error log: "closing with 1001: idle timeout"');

  # The RFC 6455 client on the same route is pinged within the same time.
  my $f = read_frame($rfc, 2.5 - (time - $timers), $rfcbuf);
  is($f && $f->{opcode}, 9, 'ping_interval = 1s: the RFC 6455 client on the route is pinged');
  my $left = 2.5 - (time - $timers);
  ok(silent_for($pinged, $left > 0 ? $left : 0), sprintf(
    'ping_interval = 1s: the hybi-00 client gets no bytes in %.1f s', time - $timers))
    or diag unpack 'H*', $pinged->{buf};
  is(ask($pinged, 'still here'), 'still here',
    'ping_interval: the hybi-00 client, which never answered a ping, is still served');

  # handshake_timeout = 2s: the request without its full key3 got nothing, then 408.
  my $res = read_h00_response($nokey3, 4);
  is($res && $res->{status}, 408, 'head + 3 bytes of key3: 408 at handshake_timeout');
  my $waited = time - $timers;
  cmp_ok($waited, '>=', 1.9, sprintf('and not before it (%.1f s)', $waited));
}


my $took = time - $T0;
diag sprintf('80-hybi00.t ran in %.1f s', $took);

done_testing;
