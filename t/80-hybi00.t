# hybi-00 (hixie-76) clients: the handshake (the draft's challenge vectors, key3 in any split,
# the key checks), the 0x00..0xFF framing (length-prefixed and other frames discarded, UTF-8,
# size limit, closing handshake), timers, base64 and plain text on bridged routes, and
# transcoding to an RFC 6455 backend (python3-websockets). The hybi-00 client is Perl's
# Protocol::WebSocket (handshake and frames); raw bytes for what a polite client never sends.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::MD5 qw(md5);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep time);
use Protocol::WebSocket::Handshake::Client;
use Protocol::WebSocket::Frame;
use WsgateTest;

use constant H00 => 'draft-ietf-hybi-00';

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

[route dead]
path = /dead/*
backend = tcp://127.0.0.1:$dead_port
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

# ---- hybi-00 helpers ----

# Frame bytes from Protocol::WebSocket: a text frame (bytes in, bytes out) and the closing frame.
sub h00_text { Protocol::WebSocket::Frame->new(version => H00, buffer => $_[0])->to_bytes }
my $CLOSE = Protocol::WebSocket::Frame->new(version => H00, type => 'close')->to_bytes;
is(unpack('H*', $CLOSE), 'ff00', 'Protocol::WebSocket encodes the hybi-00 closing frame as ff 00');
is(unpack('H*', h00_text("ab")), '006162ff', 'and a text frame as 00 <bytes> ff');

# A Protocol::WebSocket handshake object for ws://127.0.0.1:PORT$path. %o: origin, protocol.
sub h00_handshake {
  my ($path, %o) = @_;
  my $hs = Protocol::WebSocket::Handshake::Client->new(url => "ws://127.0.0.1:$port$path",
    version => H00);
  $hs->req->origin($o{origin}) if defined $o{origin};
  $hs->req->subprotocol($o{protocol}) if defined $o{protocol};
  return $hs;
}

sub nodelay { setsockopt($_[0], IPPROTO_TCP, TCP_NODELAY, 1); $_[0] }

# Reads an HTTP response head; for a 101 also the 16 challenge bytes. Returns { line, status,
# headers => { lc name => [values] }, head (the raw head with its blank line), challenge, rest }
# or undef on EOF/timeout ($got, if given, receives what was read).
sub read_h00_response {
  my ($s, $secs, $got) = @_;
  my $buf = '';
  my $sel = IO::Select->new($s);
  my $deadline = time + ($secs // 5);
  my $more = sub {
    my $left = $deadline - time;
    return 0 if $left <= 0 || !$sel->can_read($left);
    return sysread($s, $buf, 65536, length $buf) ? 1 : 0;
  };
  while ($buf !~ /\r\n\r\n/) {
    unless ($more->()) { $$got = $buf if $got; return undef }
  }
  my $end = index($buf, "\r\n\r\n") + 4;
  my $head = substr($buf, 0, $end);
  my ($line, @lines) = split /\r\n/, substr($head, 0, -4);
  my ($status) = $line =~ m{^HTTP/1\.1 (\d{3}) } or return undef;
  my %h;
  for (@lines) { my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/; push @{ $h{lc $k} }, $v }
  my $res = { line => $line, status => $status, headers => \%h, head => $head };
  if ($status == 101) {
    while (length($buf) < $end + 16) { last unless $more->() }
    $res->{challenge} = substr($buf, $end, 16);
    $res->{rest} = length($buf) > $end + 16 ? substr($buf, $end + 16) : '';
  } else {
    $res->{rest} = substr($buf, $end);
  }
  $$got = $buf if $got;
  return $res;
}

# A header's single value (undef when absent; "a | b" when repeated, so that is() shows it).
sub hv { my ($res, $name) = @_; my $v = $res && $res->{headers}{lc $name}; $v && join ' | ', @$v }

# Opens a hybi-00 session with Protocol::WebSocket: sends its request (key3 included) followed
# by $o{extra}, reads the 101 and has Protocol::WebSocket check it and the challenge. Returns a
# connection { s, buf, res, ok (the handshake verified), error }.
sub h00_open {
  my ($path, %o) = @_;
  my $hs = h00_handshake($path, %o);
  my $s = nodelay(raw_connect($port));
  send_all($s, $hs->to_string . ($o{extra} // ''));
  return h00_finish($s, $hs);
}

sub h00_finish {
  my ($s, $hs, $secs) = @_;
  my $res = read_h00_response($s, $secs // 5);
  my $c = { s => $s, buf => '', res => $res, hs => $hs, ok => 0 };
  if ($res && $res->{status} == 101 && length($res->{challenge}) == 16) {
    my $raw = $res->{head} . $res->{challenge};
    $c->{ok} = ($hs->parse($raw) && $hs->is_done) ? 1 : 0;
    $c->{error} = $hs->error;
    $c->{buf} = $res->{rest};
  } else {
    $c->{error} = $res ? $res->{line} : 'no response';
  }
  return $c;
}

# Takes one complete message off $c's buffer: { text => bytes } (decoded by
# Protocol::WebSocket::Frame), { close => 1 } for ff 00, { junk => hex } for anything a hybi-00
# server must not send, or undef when incomplete.
sub take_msg {
  my ($c) = @_;
  my $b = \$c->{buf};
  return undef unless length $$b;
  my $t = ord $$b;
  if ($t == 0xff) {
    return undef if length $$b < 2;
    return { junk => unpack('H*', substr($$b, 0, 32)) } if substr($$b, 1, 1) ne "\x00";
    substr($$b, 0, 2, '');
    return { close => 1 };
  }
  return { junk => unpack('H*', substr($$b, 0, 32)) } if $t != 0x00;
  my $end = index($$b, "\xff");
  return undef if $end < 0;
  my $f = Protocol::WebSocket::Frame->new(version => H00);
  $f->append(substr($$b, 0, $end + 1, ''));
  my $payload = $f->next_bytes;
  return defined $payload ? { text => $payload } : { junk => 'undecodable' };
}

# Reads until a complete message is there; returns it, or undef on EOF ($c->{eof} set) or timeout.
sub next_msg {
  my ($c, $secs) = @_;
  my $sel = IO::Select->new($c->{s});
  my $deadline = time + ($secs // 5);
  while (1) {
    my $m = take_msg($c);
    return $m if $m;
    my $left = $deadline - time;
    return undef if $left <= 0 || !$sel->can_read($left);
    my $n = sysread($c->{s}, $c->{buf}, 1 << 20, length $c->{buf});
    unless ($n) { $c->{eof} = 1; return undef }
  }
}

# Sends text frames and reads back one message; returns its text (undef if none).
sub ask {
  my ($c, $text) = @_;
  send_all($c->{s}, h00_text($text));
  my $m = next_msg($c, 5);
  return $m && $m->{text};
}

# Text messages (concatenated) until $want bytes have arrived or something else comes.
sub read_texts {
  my ($c, $want, $secs) = @_;
  my ($all, $n) = ('', 0);
  while (length $all < $want) {
    my $m = next_msg($c, $secs // 5) or last;
    last unless defined $m->{text};
    $all .= $m->{text};
    $n++;
  }
  return wantarray ? ($all, $n) : $all;
}

# The server's side of the end: ff 00, then nothing more and the TCP connection closed.
sub ends_with_close {
  my ($c, $name, $secs) = @_;
  my @before;
  my $m;
  while ($m = next_msg($c, $secs // 5)) {
    last unless defined $m->{text};
    push @before, $m->{text};
  }
  my $got_close = $m && $m->{close};
  ok($got_close, "$name: wsgate sends ff 00")
    or diag explain { got => $m, eof => $c->{eof}, texts_before => \@before };
  ok($got_close && tcp_closed($c->{s}, $c->{buf}, 5), "$name: and then closes TCP");
  # wsgate waits for our end of the TCP close before it logs the session and lets go of it.
  close $c->{s};
  return \@before;
}

# Nothing at all arrives within $secs.
sub silent_for {
  my ($c, $secs) = @_;
  my $sel = IO::Select->new($c->{s});
  return 1 unless $sel->can_read($secs);
  my $n = sysread($c->{s}, my $junk, 65536);
  $c->{buf} .= $junk if $n;
  return 0;
}

# A raw hybi-00 request: the draft's first example by default. %h: headers to set or (undef)
# remove, in a fixed order; -key3, -target, -first (request line).
sub h00_raw_request {
  my (%h) = @_;
  my @order = ('Host', 'Connection', 'Sec-WebSocket-Key2', 'Sec-WebSocket-Protocol', 'Upgrade',
    'Sec-WebSocket-Key1', 'Origin');
  my %hdr = (
    'Host' => 'example.com',
    'Connection' => 'Upgrade',
    'Sec-WebSocket-Key2' => '12998 5 Y3 1  .P00',
    'Upgrade' => 'WebSocket',
    'Sec-WebSocket-Key1' => '4 @1  46546xW%0l 1 5',
    'Origin' => 'http://example.com',
  );
  my $key3 = exists $h{-key3} ? delete $h{-key3} : '^n:ds[4U';
  my $target = delete $h{-target} // '/echo/demo';
  my $extra = delete $h{-extra} // [];
  for my $k (keys %h) { $hdr{$k} = $h{$k}; push @order, $k unless grep { $_ eq $k } @order }
  my $req = "GET $target HTTP/1.1\r\n";
  for my $k (@order) { $req .= "$k: $hdr{$k}\r\n" if defined $hdr{$k} }
  $req .= "$_\r\n" for @$extra;
  return "$req\r\n" . ($key3 // '');
}

# The challenge as computed here, independently of wsgate and Protocol::WebSocket.
sub key_number {
  my ($key) = @_;
  my $digits = join '', $key =~ /\d/g;
  my $spaces = () = $key =~ / /g;
  return $digits / $spaces;
}
sub challenge { md5(pack('NN', key_number($_[0]), key_number($_[1])) . $_[2]) }

sub access_line {
  my ($path) = @_;
  my ($l) = grep { /"\Q$path\E" / } split /\n/, $gw->log_text;
  return $l;
}

sub access_close_is {
  my ($path, $code, $name) = @_;
  my $ok = wait_for(5, sub { my $l = access_line($path); $l && $l =~ / close=$code / });
  ok($ok, "$name: access log has close=$code") or diag access_line($path) // $gw->log_text;
}

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
diag sprintf('80-hybi00.t ran in %.1f s', $took);

done_testing;
