# hybi-00 (hixie-76) clients on bridged and proxied routes: base64 on a type = binary tcp://
# route, plain text on a type = text one, and transcoding to an RFC 6455 backend
# (python3-websockets) on a ws:// route. The hybi-00 client is Perl's Protocol::WebSocket
# (t/lib/Hybi00Client.pm).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use IO::Select;
use Time::HiRes qw(sleep time);
use Hybi00Client;
use WsgateTest;

my $T0 = time;
my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->utf8->canonical;
my $PY = '/usr/bin/python3';
my $have_py = -x $PY && system($PY, '-c', 'import websockets') == 0;

# ---- the RFC 6455 backend for transcoding: a python3-websockets server ----
#
# Echoes every message. Text "bin" is answered with the binary message 00 01 fe ff; text
# "!close CODE REASON" closes with that code; "!ping" pings, waits for the pong, logs it and
# answers "pinged". Its 101 carries Set-Cookie: sid=from-backend. Events go to a JSON-lines log: open (path,
# request headers), msg (path, type, data: text as is, binary as hex, fragments: frame count)
# and closed (path, the close code and reason it received).
my $server_py = <<'PY';
import asyncio, json, sys
import websockets
from websockets.legacy.server import WebSocketServerProtocol

port, logfile = int(sys.argv[1]), sys.argv[2]

def log(ev):
    with open(logfile, "a") as f:
        f.write(json.dumps(ev) + "\n")

class Proto(WebSocketServerProtocol):
    async def read_frame(self, max_size):
        fr = await super().read_frame(max_size)
        if fr.opcode in (0, 1, 2) and hasattr(self, "frames"):
            self.frames.append([int(fr.opcode), bool(fr.fin), len(fr.data)])
        return fr

async def handler(ws, path):
    ws.frames = []
    log({"ev": "open", "path": path,
         "headers": [[k, v] for k, v in ws.request_headers.raw_items()]})
    try:
        async for msg in ws:
            frames, ws.frames = ws.frames, []
            if isinstance(msg, str):
                log({"ev": "msg", "path": path, "type": "text", "data": msg, "frames": frames})
                if msg == "bin":
                    await ws.send(b"\x00\x01\xfe\xff")
                elif msg == "!ping":
                    waiter = await ws.ping(b"are you there")
                    await asyncio.wait_for(waiter, 3)
                    log({"ev": "pong", "path": path})
                    await ws.send("pinged")
                elif msg.startswith("!close "):
                    code, _, reason = msg[7:].partition(" ")
                    await ws.close(int(code), reason)
                else:
                    await ws.send(msg)
            else:
                log({"ev": "msg", "path": path, "type": "binary", "data": msg.hex(),
                     "frames": frames})
                await ws.send(msg)
    except Exception:
        pass
    await ws.wait_closed()
    log({"ev": "closed", "path": path, "code": ws.close_code, "reason": ws.close_reason})

async def main():
    async with websockets.serve(handler, "127.0.0.1", port, create_protocol=Proto,
                                subprotocols=["chat"], max_size=None, ping_interval=None,
                                extra_headers=[("Set-Cookie", "sid=from-backend")],
                                close_timeout=2):
        await asyncio.Future()

asyncio.run(main())
PY

sub py_backend {
  my $port = empty_port();
  my $log = "$dir/py.events";
  open my $fh, '>', "$dir/server.py" or die "server.py: $!";
  print $fh $server_py;
  close $fh;
  my $proc = start_program([$PY, "$dir/server.py", $port, $log], port => $port,
    out => "$dir/py.out");
  return bless { proc => $proc, port => $port, log => $log }, 'PyBackend';
}

sub PyBackend::url { "ws://127.0.0.1:$_[0]{port}" }

sub PyBackend::events {
  my ($self) = @_;
  my $text = slurp($self->{log}) // '';
  return map { $json->decode($_) } grep { length } split /\n/, $text;
}

# Waits up to $secs for the events of kind $ev on exactly $path until $cond->(@events) holds;
# returns those events.
sub PyBackend::wait_events {
  my ($self, $ev, $path, $cond, $secs) = @_;
  my @found;
  wait_for($secs // 5, sub {
    @found = grep { $_->{ev} eq $ev && $_->{path} eq $path } $self->events;
    $cond->(@found);
  });
  return @found;
}

# ---- backends and gateway ----

my $echo = tcp_echo_server();
my $rec_b64 = recorder("$dir/b64.rec");
my $rec_txt = recorder("$dir/txt.rec");
my $bad_txt = start_server(sub {
  my $c = shift;
  sysread($c, my $buf, 100);
  send_all($c, "fine \xe2\x9c\x93 then bad \xff\xfe");
  1 while sysread($c, $buf, 65536);
});
my $flood_data = join '', map { chr(($_ * 13 + 7) % 256) } 0 .. (2 << 20) - 1;
my $flood = start_server(sub {
  my $c = shift;
  send_all($c, $flood_data);
  1 while sysread($c, my $buf, 65536);
});
my $py = $have_py ? py_backend() : undef;

my $ini = <<"INI";
[route b64]
path = /b64/*
backend = ${\ $echo->backend }
type = binary

[route b64rec]
path = /b64rec/*
backend = ${\ $rec_b64->backend }

[route flood]
path = /flood/*
backend = ${\ $flood->backend }

[route txt]
path = /txt/*
backend = ${\ $echo->backend }
type = text

[route txtrec]
path = /txtrec/*
backend = ${\ $rec_txt->backend }
type = text

[route badtxt]
path = /badtxt/*
backend = ${\ $bad_txt->backend }
type = text
INI
$ini .= <<"INI" if $py;

[route py]
path = /py/*
backend = ${\ $py->url }

[route pytext]
path = /pytext/*
backend = ${\ $py->url }
type = text
INI

my $gw = wsgate($ini, server => "handshake_timeout = 2s\n");
my $port = $gw->port;
h00_gateway($gw);
my $CLOSE = h00_close();

# ==== 8. base64 on a type = binary tcp:// route ====
{
  my $data = join '', map { chr int rand 256 } 1 .. (1 << 20);
  my $b64 = encode_base64($data, '');
  # Frames of irregular sizes, none a multiple of 4 until the last.
  my @frames;
  my $off = 0;
  my @sizes = (1, 2, 3, 5, 1001, 7, 65539, 13, 100_003);
  while ($off < length $b64) {
    my $n = $sizes[@frames % @sizes];
    push @frames, substr($b64, $off, $n);
    $off += $n;
  }
  my $inside = grep { length($_) % 4 } @frames;
  cmp_ok($inside, '>', 1, 'several frame boundaries fall inside 4-character groups');

  my $c = h00_open('/b64/big');
  ok($c->{ok}, 'base64 route: handshake verified');
  my $out = join '', map { h00_text($_) } @frames;
  my @got;
  my $got_len = 0;
  my $s = $c->{s};
  $s->blocking(0);
  my $deadline = time + 30;
  my $bad;
  while ($got_len < length $b64 && time < $deadline) {
    my $rs = IO::Select->new($s);
    my $ws = IO::Select->new(length $out ? ($s) : ());
    my ($r, $w) = IO::Select->select($rs, $ws, undef, 1);
    if ($w && @$w) {
      my $n = syswrite($s, $out, 65536);
      substr($out, 0, $n, '') if $n;
    }
    if ($r && @$r) {
      my $n = sysread($s, $c->{buf}, 1 << 20, length $c->{buf});
      last if defined $n && $n == 0;
      while (my $m = take_msg($c)) {
        if (!defined $m->{text}) { $bad = $m; last }
        push @got, $m->{text};
        $got_len += length $m->{text};
      }
      last if $bad;
    }
  }
  $s->blocking(1);
  ok(!$bad, 'base64 echo: only text frames come back') or diag explain $bad;
  my $re = qr{^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$};
  my @notwhole = grep { !length($_) || $_ !~ $re } @got;
  is(scalar @notwhole, 0, 'every returned frame is one complete, padded base64 string ('
    . @got . ' frames)') or diag substr($notwhole[0], 0, 80);
  my $back = join '', map { decode_base64($_) } @got;
  is(length $back, length $data, '1 MiB came back');
  ok($back eq $data, 'decoding the frames one by one gives the random input byte-exact');
  send_all($s, $CLOSE);
  ends_with_close($c, 'base64 echo');

  # What the backend receives: the decoded bytes.
  my $c2 = h00_open('/b64rec/raw');
  my $raw = join '', map { chr int rand 256 } 1 .. 65536;
  my $enc = encode_base64($raw, '');
  send_all($c2->{s}, h00_text(substr($enc, 0, 4097)) . h00_text(substr($enc, 4097)));
  send_all($c2->{s}, h00_text('QQ==Qg=='));
  send_all($c2->{s}, h00_text('QU'));
  sleep 0.1;
  send_all($c2->{s}, h00_text('JD') . h00_text('') . h00_text('R'));
  send_all($c2->{s}, h00_text('kU='));
  my $want = $raw . 'AB' . decode_base64('QUJDRkU=');
  wait_for(5, sub { length(slurp("$dir/b64.rec") // '') >= length $want });
  my $rec = slurp("$dir/b64.rec") // '';
  is(length $rec, length $want, 'recorder backend: the decoded length arrived');
  ok($rec eq $want, 'recorder backend: raw decoded bytes, "QQ==Qg==" as "AB", groups split across frames joined');
  send_all($c2->{s}, $CLOSE);
  ends_with_close($c2, 'base64 to recorder');
  wait_for(5, sub { length(slurp("$dir/b64.rec.end") // '') });
  is(slurp("$dir/b64.rec.end"), 'eof', 'recorder backend sees a clean EOF after the close');

  # Invalid base64 from the client.
  my @invalid = (
    ['a "!"', 'ab!d'],
    ['"=" inside a group', 'QQ=A'],
    ['a newline', "QUJD\nQUJD"],
    ['a space', 'QU JD'],
    ['data after "=="', 'QQ==Q==='],
    ['URL-safe "-"', 'ab-d'],
  );
  my $n = 0;
  for my $case (@invalid) {
    my ($name, $text) = @$case;
    $n++;
    my $c = h00_open("/b64/invalid-$n");
    send_all($c->{s}, h00_text($text));
    ends_with_close($c, "invalid base64 ($name)");
    access_close_is("/b64/invalid-$n", 1007, "invalid base64 ($name)");
  }
  like($gw->log_text, qr/client sent invalid base64/, 'error log: "client sent invalid base64"');

  # The close is never written into one of wsgate's own frames: a backend floods 2 MiB, the
  # client sends invalid base64 while most of it is still queued, then reads everything.
  my $f = h00_open('/flood/x');
  my $first = next_msg($f, 5);
  ok($first && defined $first->{text}, 'flooding backend: data arrives');
  send_all($f->{s}, h00_text('!!!!'));
  my @texts = ($first ? $first->{text} : ());
  my $m;
  while ($m = next_msg($f, 5)) { last unless defined $m->{text}; push @texts, $m->{text} }
  ok($m && $m->{close}, 'flooding backend, invalid base64: ff 00 after ' . @texts . ' frames')
    or diag explain $m;
  my @cut = grep { !length($_) || $_ !~ $re } @texts;
  is(scalar @cut, 0, 'every frame before the ff 00 is a complete base64 string (none was cut)');
  my $dec = join '', map { decode_base64($_) } @texts;
  ok(length $dec && $dec eq substr($flood_data, 0, length $dec), 'and they hold a prefix of the backend data');
  ok(tcp_closed($f->{s}, $f->{buf}, 5), 'then TCP closes');
  close $f->{s};
}

# ==== 9. type = text tcp:// route: plain text ====
{
  my $c = h00_open('/txt/plain');
  ok($c->{ok}, 'text route: handshake verified');
  my $t = "plain h\xc3\xa9llo \xe2\x9c\x93 QUJD";
  send_all($c->{s}, h00_text($t));
  my $got = read_texts($c, length $t);
  is($got, $t, 'text route: text comes back as sent, not base64');
  send_all($c->{s}, $CLOSE);
  ends_with_close($c, 'text route');

  my $c2 = h00_open('/txtrec/plain');
  send_all($c2->{s}, h00_text('abc ') . h00_text("\xc3\xa9 ==") . h00_text(''));
  my $want = "abc \xc3\xa9 ==";
  wait_for(5, sub { length(slurp("$dir/txt.rec") // '') >= length $want });
  is(slurp("$dir/txt.rec"), $want, 'text route: the backend receives the frames\' bytes unchanged');

  my $c3 = h00_open('/badtxt/x');
  send_all($c3->{s}, h00_text('go'));
  my $before = ends_with_close($c3, 'text route, invalid UTF-8 from the backend');
  my $all = join '', @$before;
  ok(index("fine \xe2\x9c\x93 then bad ", $all) == 0, 'only the valid part was delivered before')
    or diag unpack 'H*', $all;
}

# ==== 11. transcoding to an RFC 6455 backend (ws:// route) ====
SKIP: {
  skip 'needs /usr/bin/python3 with websockets', 1 unless $py;

  my $c = h00_open('/py/echo', origin => 'http://app.example', protocol => 'chat');
  ok($c->{ok}, 'ws:// route: handshake verified by Protocol::WebSocket') or diag $c->{error};
  is($c->{res} && $c->{res}{line}, 'HTTP/1.1 101 WebSocket Protocol Handshake', 'ws:// route: hybi-00 101');
  is(hv($c->{res}, 'Sec-WebSocket-Location'), "ws://127.0.0.1:$port/py/echo", 'ws:// route: Location');
  my ($open) = $py->wait_events('open', '/py/echo', sub { @_ });
  my %h;
  for (@{ $open ? $open->{headers} : [] }) { push @{ $h{lc $_->[0]} }, $_->[1] }
  is_deeply($h{'sec-websocket-version'}, ['13'], 'backend request: Sec-WebSocket-Version: 13');
  like(($h{'sec-websocket-key'} // [''])->[0], qr{^[A-Za-z0-9+/]{22}==$}, 'backend request: its own Sec-WebSocket-Key');
  ok(!$h{'sec-websocket-key1'} && !$h{'sec-websocket-key2'}, 'backend request: no Key1/Key2');
  is_deeply($h{origin}, ['http://app.example'], 'backend request: the client\'s Origin');
  ok(!$h{'sec-websocket-extensions'}, 'backend request: no permessage-deflate offer');
  ok(!$h{'content-length'}, 'backend request: no Content-Length');

  my $t = "h\xc3\xa9llo \xf0\x9f\x98\x80";
  is(ask($c, $t), $t, 'hybi-00 text -> backend -> hybi-00 text, byte-exact');
  my @msgs = $py->wait_events('msg', '/py/echo', sub { @_ >= 1 });
  is($msgs[0] && $msgs[0]{type}, 'text', 'the backend got a text message');
  is($msgs[0] && $msgs[0]{data}, "h\x{e9}llo \x{1F600}", 'with the same characters');

  send_all($c->{s}, h00_text('bin'));
  my $m = next_msg($c, 5);
  is($m && $m->{text}, 'AAH+/w==', 'backend binary 00 01 fe ff -> client text "AAH+/w==" (type = binary)');

  # A frame that arrives in pieces still makes one message.
  send_all($c->{s}, "\x00piece");
  sleep 0.2;
  send_all($c->{s}, "s and bits\xff");
  $m = next_msg($c, 5);
  is($m && $m->{text}, 'pieces and bits', 'a frame sent in two writes comes back whole');

  # Discarded frames do not reach the backend.
  send_all($c->{s}, "\x80\x03abc\x01xyz\xff" . h00_text('after junk'));
  $m = next_msg($c, 5);
  is($m && $m->{text}, 'after junk', 'length-prefixed and type-01 frames are not passed on');
  @msgs = $py->wait_events('msg', '/py/echo', sub { @_ >= 4 });
  is_deeply([map { $_->{data} } @msgs], ["h\x{e9}llo \x{1F600}", 'bin', 'pieces and bits', 'after junk'],
    'the backend got exactly the four text messages');

  send_all($c->{s}, $CLOSE);
  ends_with_close($c, 'ws:// route, client ff 00');
  my ($closed) = $py->wait_events('closed', '/py/echo', sub { @_ });
  is($closed && $closed->{code}, 1000, 'client ff 00 -> backend gets close 1000');

  # type = text: a binary message from the backend cannot be sent to the client.
  $c = h00_open('/pytext/bin');
  ok($c->{ok}, 'ws:// route with type = text: handshake verified');
  is(ask($c, 'text ok'), 'text ok', 'type = text: text still passes');
  send_all($c->{s}, h00_text('bin'));
  my $before = ends_with_close($c, 'type = text, backend binary');
  is(scalar @$before, 0, 'type = text: no text frame for the binary message');
  ($closed) = $py->wait_events('closed', '/pytext/bin', sub { @_ });
  is($closed && $closed->{code}, 1003, 'type = text: the backend gets close 1003');

  # The backend closes: its code comes back to it, the client gets ff 00.
  $c = h00_open('/py/backend-closes');
  send_all($c->{s}, h00_text('!close 4001 bye'));
  ends_with_close($c, 'backend close 4001');
  ($closed) = $py->wait_events('closed', '/py/backend-closes', sub { @_ });
  is($closed && $closed->{code}, 4001, 'backend close 4001: the backend gets 4001 echoed');

  # Backend pings are answered by wsgate; the hybi-00 client sees none of it.
  $c = h00_open('/py/ping');
  send_all($c->{s}, h00_text('!ping'));
  $m = next_msg($c, 5);
  is($m && $m->{text}, 'pinged', 'backend ping: answered with a pong, nothing but the reply reaches the client')
    or diag explain $m;
  ok(scalar $py->wait_events('pong', '/py/ping', sub { @_ }), 'the backend got its pong');
  send_all($c->{s}, $CLOSE);
  ends_with_close($c, 'after the backend ping');

  # Cookies in, the backend's Set-Cookie out; the draft's vector still holds through a ws:// route.
  my $s = raw_connect($port);
  send_all($s, h00_raw_request(-target => '/py/cookie?q=1', Cookie => 'session=abc'));
  my $res = read_h00_response($s, 5);
  is($res && $res->{line}, 'HTTP/1.1 101 WebSocket Protocol Handshake', 'ws:// route, raw draft request: 101');
  is($res && $res->{challenge}, "8jKS'y:G*Co,Wxa-", 'ws:// route: the draft vector\'s challenge');
  is(hv($res, 'Set-Cookie'), 'sid=from-backend', 'ws:// route: the backend\'s Set-Cookie is in the hybi-00 101');
  is(hv($res, 'Sec-WebSocket-Location'), 'ws://example.com/py/cookie?q=1', 'ws:// route: Location with the query');
  ok(!exists $res->{headers}{'sec-websocket-accept'}, 'ws:// route: the backend\'s Sec-WebSocket-Accept is not passed on');
  ($open) = $py->wait_events('open', '/py/cookie?q=1', sub { @_ });
  my %ch;
  for (@{ $open ? $open->{headers} : [] }) { push @{ $ch{lc $_->[0]} }, $_->[1] }
  is_deeply($ch{cookie}, ['session=abc'], 'ws:// route: the client\'s Cookie reaches the backend');
  close $s;

  # Invalid UTF-8 from the hybi-00 client on a ws:// route.
  $c = h00_open('/py/bad-utf8');
  send_all($c->{s}, "\x00\xc3\x28\xff");
  ends_with_close($c, 'ws:// route, invalid UTF-8 from the client');
  ($closed) = $py->wait_events('closed', '/py/bad-utf8', sub { @_ });
  is($closed && $closed->{code}, 1001,
    'ws:// route, invalid UTF-8 from the client: the backend hears 1001, the client went away');
}

my $took = time - $T0;
diag sprintf('82-hybi00-bridge.t ran in %.1f s', $took);

done_testing;
