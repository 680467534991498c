# The TCP bridge: client payloads reach tcp:// and unix: backends byte-exact, backend bytes come
# back as frames of the route's type, UTF-8 on text routes, and every way a side can go away.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use WsgateMojo;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use Socket qw(SOL_SOCKET SO_LINGER);
use Encode ();
use POSIX ();
use Mojo::IOLoop;
use WsgateTest;

my $dir = tempdir(CLEANUP => 1);

# ---- helpers ----

sub valid_utf8 {
  my ($bytes) = @_;
  return eval { Encode::decode('UTF-8', $bytes, Encode::FB_CROAK | Encode::LEAVE_SRC); 1 } ? 1 : 0;
}

# Exactly $n bytes of valid UTF-8 mixing 1- to 4-byte characters.
sub utf8_bytes {
  my ($n) = @_;
  my $unit = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";    # a é € 😀: 10 bytes
  return ($unit x int($n / 10)) . ('x' x ($n % 10));
}

sub pattern {
  my ($n, $seed) = @_;
  my $block = join '', map { chr(($_ * 7 + $seed) % 256) } 0 .. 4095;
  return substr($block x (int($n / 4096) + 1), 0, $n);
}

sub data_frames { grep { $_->[4] <= 2 } @{ $_[0]{frames} } }

# ---- backends and gateway ----

my %rec = map { $_ => recorder("$dir/$_.rec") } qw(exact close vanish pipeline pipeclose);
$rec{'slow-vanish'} = recorder("$dir/slow-vanish.rec", 1);
my $echo = tcp_echo_server();
my $uecho = tcp_echo_server(unix => "$dir/echo.sock");
my $greeting = "hello from the backend \x00\x01\xfe\xff";
my $text_greeting = "h\xc3\xa9llo \xe2\x9c\x93 from the backend";
my $hello_bin = scripted(sub { send_all($_[0], $greeting) });
my $hello_txt = scripted(sub { send_all($_[0], $text_greeting) });

# Every multibyte character cut at every inner position, the two halves written 0.1 s apart.
my @chars = ("\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80");
my $split_expect = '';
my @split_writes;
for my $ch (@chars) {
  for my $cut (1 .. length($ch) - 1) {
    push @split_writes, "<" . substr($ch, 0, $cut), substr($ch, $cut) . ">";
    $split_expect .= "<$ch>";
  }
}
# And one 4-byte character written a byte at a time.
push @split_writes, "<\xf0", "\x9f", "\x98", "\x80>";
$split_expect .= "<\xf0\x9f\x98\x80>";
my $split = scripted(sub {
  my $c = shift;
  for my $w (@split_writes) { send_all($c, $w); sleep 0.1 }
  shutdown($c, 1);
});
my $bad = scripted(sub {
  send_all($_[0], "valid text \xe2\x9c\x93 ");
  sleep 0.3;
  send_all($_[0], "still \xff\xfe bad");
});
my $cut = scripted(sub {
  my $c = shift;
  send_all($c, "whole \xe2\x82\xac ");
  sleep 0.3;
  send_all($c, "then half a euro \xe2\x82");
  sleep 0.3;
  shutdown($c, 1);
});
my $rst_reader = start_server(sub {
  my $c = shift;
  sysread($c, my $buf, 10);
  sleep 0.3;
  setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
  close $c;
});
my $eof_data = pattern(1 << 20, 3);
my $eofsrv = scripted(sub { send_all($_[0], $eof_data); shutdown($_[0], 1) });
my $reset_data = pattern(64 << 10, 5);
my $reset = start_server(sub {
  my $c = shift;
  send_all($c, $reset_data);
  sleep 0.5;
  setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
  close $c;
});

my $ini = '';
for my $r (
  (map { [$_ => $rec{$_}, 'binary'] } qw(exact close vanish pipeline pipeclose slow-vanish)),
  ['cut-utf8' => $cut, 'text'],
  ['rst-reader' => $rst_reader, 'binary'],
  ['echo-bin' => $echo, 'binary'],
  ['echo-txt' => $echo, 'text'],
  ['unix' => $uecho, 'binary'],
  ['hello-bin' => $hello_bin, 'binary'],
  ['hello-txt' => $hello_txt, 'text'],
  ['split' => $split, 'text'],
  ['bad-utf8' => $bad, 'text'],
  ['eof' => $eofsrv, 'binary'],
  ['reset' => $reset, 'binary'],
) {
  my ($name, $server, $type) = @$r;
  $ini .= "[route $name]\npath = /$name\nbackend = ${\ $server->backend }\ntype = $type\n\n";
}
$ini .= "[route sub]\npath = /sub\nbackend = echo\nprotocols = binary, chat\n";
my $gw = wsgate($ini);
my $port = $gw->port;

# ---- client -> backend, byte-exact ----
{
  my $bin = join('', map { chr } 0 .. 255) . pattern(300_000, 11);
  my $txt = utf8_bytes(70_001);
  my $st = mojo_ws($gw->url('/exact'));
  ok(!$st->{failed}, 'Mojo client upgrades on a tcp:// route') or diag explain $st->{failed};
  $st->{tx}->send({binary => $bin});
  $st->{tx}->send({text => $txt});
  $st->{tx}->send({binary => ''});
  $st->{tx}->send({binary => 'tail'});
  my $want = $bin . $txt . 'tail';
  run_until(10, sub { length(slurp("$dir/exact.rec") // '') >= length $want });
  my $got = slurp("$dir/exact.rec") // '';
  is(length $got, length $want, 'backend received every payload byte');
  ok($got eq $want, 'and they are byte-exact, in order, with no framing');
  $st->{tx}->finish(1000);
  run_until(5, sub { mojo_gone($st) });
  is($st->{code}, 1000, 'client close 1000 is answered with 1000');
  ok(wait_for(5, sub { -e "$dir/exact.rec.end" }), 'backend then sees the connection end');
  is(slurp("$dir/exact.rec.end"), 'eof', 'as a clean EOF');
}

# ---- backend -> client, framed with the route's type ----
for my $case (['hello-bin', 2, $greeting], ['hello-txt', 1, $text_greeting]) {
  my ($path, $op, $want) = @$case;
  my $st = mojo_ws($gw->url("/$path"));
  run_until(5, sub { length $st->{data} >= length $want });
  my @f = data_frames($st);
  ok(@f > 0, "/$path: backend bytes arrive as frames");
  is_deeply([map { $_->[4] } @f], [($op) x @f], "/$path: every frame has opcode $op");
  is_deeply([map { $_->[0] } @f], [(1) x @f], "/$path: every frame is a complete message");
  ok($st->{data} eq $want, "/$path: payload is byte-exact");
  $st->{tx}->finish(1000);
  run_until(5, sub { mojo_gone($st) });
  is($st->{code}, 1000, "/$path: closes cleanly");
}

# ---- echo through tcp and unix backends, 0 B to 4 MiB ----
my @sizes = (0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20, 4 << 20);
for my $case (['echo-bin', 'binary', 2], ['echo-txt', 'text', 1], ['unix', 'binary', 2]) {
  my ($path, $kind, $op) = @$case;
  my $st = mojo_ws($gw->url("/$path"));
  ok(!$st->{failed}, "/$path: upgrades") or next;
  my $t0 = time;
  for my $size (@sizes) {
    my $msg = $kind eq 'text' ? utf8_bytes($size) : pattern($size, $size % 251);
    $st->{data} = '';
    @{ $st->{frames} } = ();
    $st->{tx}->send({$kind => $msg});
    # An empty message sends the backend nothing, so a 1-byte sentinel follows it.
    if ($size == 0) { $msg = 'z'; $st->{tx}->send({$kind => 'z'}) }
    run_until(20, sub { length $st->{data} >= length $msg || $st->{finished} });
    my @f = data_frames($st);
    my $ok = length($st->{data}) == length($msg) && $st->{data} eq $msg;
    ok($ok, "/$path: $kind $size B echoed byte-exact") or diag "got " . length($st->{data});
    my @wrong = grep { $_->[4] != $op } @f;
    is(scalar @wrong, 0, "/$path: $size B came back in opcode-$op frames (" . @f . ' frames)');
    if ($kind eq 'text') {
      my @invalid = grep { !valid_utf8($_->[5]) } @f;
      is(scalar @invalid, 0, "/$path: every text frame of the $size B echo is valid UTF-8");
    }
  }
  diag sprintf('/%s: echo of %d sizes took %.2fs', $path, scalar @sizes, time - $t0);
  $st->{tx}->finish(1000);
  run_until(5, sub { mojo_gone($st) });
  is($st->{code}, 1000, "/$path: closes with 1000");
}

# ---- text route: a character split across backend writes is held back ----
{
  my ($s, $buf, $res) = ws_open($port, '/split');
  is($res && $res->{status}, 101, '/split: 101');
  my ($code, $reason, $frames) = read_until_close($s, 10, $buf);
  my $all = join '', map { $_->{payload} } @$frames;
  ok($all eq $split_expect, 'split characters are reassembled in order')
    or diag explain [map { unpack 'H*', $_->{payload} } @$frames];
  is_deeply([grep { $_->{opcode} != 1 } @$frames], [], 'every frame is a text frame');
  my @invalid = grep { !valid_utf8($_->{payload}) } @$frames;
  is(scalar @invalid, 0, 'no text frame carries a partial character')
    or diag explain [map { unpack 'H*', $_->{payload} } @invalid];
  cmp_ok(scalar @$frames, '>', 1, 'data arrived in several frames (the pauses were seen)');
  is($code, 1000, 'backend EOF then gives close 1000');
  close $s;
}

# ---- text route: invalid UTF-8 from the backend ----
{
  my ($s, $buf, $res) = ws_open($port, '/bad-utf8');
  is($res && $res->{status}, 101, '/bad-utf8: 101');
  my ($code, $reason, $frames) = read_until_close($s, 10, $buf);
  is($code, 1011, 'invalid UTF-8 from the backend closes with 1011');
  my @invalid = grep { $_->{opcode} != 1 || !valid_utf8($_->{payload}) } @$frames;
  is(scalar @invalid, 0, 'nothing invalid was sent before the close');
  my $all = join '', map { $_->{payload} } @$frames;
  ok(index("valid text \xe2\x9c\x93 still ", $all) == 0, 'what was sent is a prefix of the valid part')
    or diag unpack 'H*', $all;
  ok(wait_for(3, sub { $gw->log_text =~ /invalid UTF-8/ }), 'the reason is logged');
  close $s;
}

# ---- text route: the backend closes inside a character ----
{
  my ($s, $buf, $res) = ws_open($port, '/cut-utf8');
  is($res && $res->{status}, 101, '/cut-utf8: 101');
  my ($code, $reason, $frames) = read_until_close($s, 10, $buf);
  my $all = join '', map { $_->{payload} } @$frames;
  my @invalid = grep { $_->{opcode} != 1 || !valid_utf8($_->{payload}) } @$frames;
  is(scalar @invalid, 0, 'backend EOF inside a character: no partial character is sent');
  ok(index("whole \xe2\x82\xac then half a euro ", $all) == 0 && length $all >= 10,
    'the complete text before it is delivered') or diag unpack 'H*', $all;
  is($code, 1011, 'and the stream ends with 1011 (invalid UTF-8), not 1000');
  close $s;
}

# ---- the same text routes through python3-websockets, which rejects invalid UTF-8 itself ----
SKIP: {
  my $py = '/usr/bin/python3';
  skip 'python3 with websockets not available', 4
    unless -x $py && system($py, '-c', 'import websockets') == 0;
  open my $fh, '>', "$dir/client.py" or die;
  print $fh <<'PY';
import asyncio, sys, websockets

def utf8_text(n):
    unit = "a\u00e9\u20ac\U0001F600"  # 10 bytes in UTF-8
    return unit * (n // 10) + "x" * (n % 10)

async def main(url, mode):
    async with websockets.connect(url, max_size=None, ping_interval=None) as ws:
        if mode == "echo":
            for n in (1, 125, 65536, 1 << 20, 4 << 20):
                msg = utf8_text(n)
                await ws.send(msg)
                got, count = "", 0
                while len(got.encode()) < n:
                    m = await asyncio.wait_for(ws.recv(), 20)
                    if not isinstance(m, str):
                        print("binary frame on a text route"); return
                    got += m
                    count += 1
                print("echo", n, "ok" if got == msg else "MISMATCH", count)
            await ws.close()
        else:
            got = ""
            try:
                while True:
                    got += await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                pass
            print("text", got.encode().hex())
        print("close", ws.close_code)

asyncio.run(main(sys.argv[1], sys.argv[2]))
PY
  close $fh;
  my $out = qx{$py $dir/client.py ws://127.0.0.1:$port/echo-txt echo 2>&1};
  my @ok = $out =~ /^echo \d+ ok \d+$/mg;
  is(scalar @ok, 5, 'python3-websockets: text echo of 1 B to 4 MiB on a tcp text route')
    or diag $out;
  like($out, qr/^close 1000$/m, 'python3-websockets: clean close');
  $out = qx{$py $dir/client.py ws://127.0.0.1:$port/split recv 2>&1};
  my ($hex) = $out =~ /^text ([0-9a-f]*)$/m;
  is($hex, unpack('H*', $split_expect), 'python3-websockets: split characters arrive whole')
    or diag $out;
  like($out, qr/^close 1000$/m, 'python3-websockets: no 1007 from the client, 1000 at the end')
    or diag $out;
}

# ---- backend EOF: everything, then 1000 ----
{
  my $st = mojo_ws($gw->url('/eof'));
  run_until(15, sub { mojo_gone($st) });
  is(length $st->{data}, length $eof_data, 'backend EOF: all 1 MiB arrived before the close');
  ok($st->{data} eq $eof_data, 'byte-exact');
  is($st->{code}, 1000, 'then close 1000');
}
{
  my ($s, $buf) = ws_open($port, '/eof');
  sleep 0.5;    # wsgate has everything and the backend's FIN before the client reads a byte
  my ($code, $reason, $frames) = read_until_close($s, 10, $buf);
  is(length(join '', map { $_->{payload} } @$frames), length $eof_data,
    'backend EOF while the client lags: nothing is lost');
  is($code, 1000, 'close 1000 comes last');
  my $n = sysread($s, my $rest, 100);
  is($n, 0, 'then wsgate closes TCP');
  close $s;
}

# ---- client close: data, then close frame ----
{
  my ($s, $buf) = ws_open($port, '/close');
  my $data = pattern(200_000, 17);
  send_all($s, client_frame(2, substr($data, 0, 100_000)) . client_frame(2, substr($data, 100_000))
    . client_frame(8, pack('n', 1000) . 'bye'));
  my ($code, $reason, $frames) = read_until_close($s, 10, $buf);
  is($code, 1000, 'client close: wsgate answers with close 1000');
  ok(wait_for(5, sub { -e "$dir/close.rec.end" }), 'backend connection ends');
  is(slurp("$dir/close.rec.end"), 'eof', 'with a clean EOF');
  my $got = slurp("$dir/close.rec") // '';
  is(length $got, length $data, 'after receiving all the data');
  ok($got eq $data, 'byte-exact');
  close $s;
}

# ---- client vanishes without a close frame ----
{
  my ($s, $buf) = ws_open($port, '/vanish');
  my $data = pattern(150_000, 23);
  send_all($s, client_frame(2, substr($data, 0, 50_000), fin => 0)
    . client_frame(0, substr($data, 50_000, 50_000), fin => 0)
    . client_frame(0, substr($data, 100_000)) );
  close $s;
  ok(wait_for(5, sub { -e "$dir/vanish.rec.end" }), 'client vanished: backend connection ends');
  is(slurp("$dir/vanish.rec.end"), 'eof', 'with a clean EOF');
  my $got = slurp("$dir/vanish.rec") // '';
  ok($got eq $data, 'after all the data the client had sent') or diag length $got;
}

# The same with 3 MiB toward a backend that reads nothing for a second: wsgate is still
# holding back the client's bytes (backpressure) when the client's FIN comes.
{
  my ($s, $buf) = ws_open($port, '/slow-vanish');
  my $data = pattern(3 << 20, 31);
  my $writer = fork // die;
  if (!$writer) {
    send_all($s, client_frame(2, substr($data, $_ << 20, 1 << 20), mask => 'abcd')) for 0 .. 2;
    POSIX::_exit(0);
  }
  waitpid($writer, 0);
  close $s;
  ok(wait_for(10, sub { -e "$dir/slow-vanish.rec.end" }), 'slow backend: its connection ends');
  is(slurp("$dir/slow-vanish.rec.end"), 'eof', 'with a clean EOF');
  my $got = slurp("$dir/slow-vanish.rec") // '';
  is(length $got, length $data, 'after all 3 MiB the client sent before vanishing');
  ok($got eq $data, 'byte-exact');
}

# ---- backend reset mid-stream ----
{
  my ($s, $buf, $res) = ws_open($port, '/reset');
  is($res && $res->{status}, 101, '/reset: 101');
  my ($code, $reason, $frames) = read_until_close($s, 10, $buf);
  ok(defined $code && ($code == 1011 || $code == 1000), 'backend reset: client gets a close frame')
    or diag "got " . ($code // 'undef') . " $reason";
  is($code, 1011, 'with 1011');
  my $all = join '', map { $_->{payload} } @$frames;
  ok($all eq $reset_data, 'the data sent before the reset was delivered first') or diag length $all;
  close $s;
}

# ---- backend resets while the client is still sending ----
{
  local $SIG{PIPE} = 'IGNORE';
  my ($s, $buf, $res) = ws_open($port, '/rst-reader');
  is($res && $res->{status}, 101, '/rst-reader: 101');
  my $chunk = client_frame(2, 'r' x 65536);
  my $t0 = time;
  for (1 .. 32) { send_all($s, $chunk) or last; sleep 0.02 }
  my ($code, $reason) = read_until_close($s, 10, $buf);
  ok(defined $code && ($code == 1011 || $code == 1000),
    'backend reset while the client streams: the client gets a close frame')
    or diag "got " . ($code // 'undef') . " $reason";
  close $s;
}

# ---- bytes pipelined after the handshake ----
{
  my ($s, undef, $res) =
    ws_open($port, '/pipeline', -extra => client_frame(2, "pipelined ") . client_frame(1, "bytes"));
  is($res && $res->{status}, 101, 'pipelined request: 101');
  send_all($s, client_frame(2, " and later"));
  ok(wait_for(5, sub { (slurp("$dir/pipeline.rec") // '') eq "pipelined bytes and later" }),
    'bytes pipelined after the handshake reach the backend, in order')
    or diag slurp("$dir/pipeline.rec");
  close $s;
}

# Handshake, a 100 kB message and a close frame in one write.
{
  my $data = pattern(100_000, 29);
  my ($s, $buf, $res) =
    ws_open($port, '/pipeclose', -extra => client_frame(2, $data) . client_frame(8, pack('n', 1000)));
  is($res && $res->{status}, 101, 'request, message and close in one write: 101');
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1000, 'then the close reply');
  ok(wait_for(5, sub { -e "$dir/pipeclose.rec.end" }), 'the backend connection ends');
  ok((slurp("$dir/pipeclose.rec") // '') eq $data, 'after the whole pipelined message');
  is(slurp("$dir/pipeclose.rec.end"), 'eof', 'with a clean EOF');
  close $s;
}

# ---- subprotocol selection (Mojo as the client) ----
for my $case ([[qw(chat binary)], 'chat'], [[qw(foo binary chat)], 'binary'], [['foo'], undef],
              [undef, undef]) {
  my ($offer, $want) = @$case;
  my $label = $offer ? join(',', @$offer) : 'no offer';
  my $st = mojo_ws($gw->url('/sub'), $offer);
  ok($st->{tx} && $st->{tx}->is_websocket, "subprotocols [$label]: upgraded");
  is($st->{tx}->res->headers->sec_websocket_protocol, $want,
    "subprotocols [$label]: answered " . ($want // 'no header'));
  if ($st->{tx}->is_websocket) {
    $st->{tx}->send({binary => "ping-$label"});
    run_until(5, sub { $st->{data} eq "ping-$label" });
    is($st->{data}, "ping-$label", "subprotocols [$label]: echo works");
    $st->{tx}->finish(1000);
    run_until(5, sub { mojo_gone($st) });
  }
}

done_testing;
