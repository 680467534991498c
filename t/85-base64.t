# websockify-style subprotocols on bridged routes: RFC 6455 clients that negotiate "base64" or
# "binary" against tcp:// (and unix:) backends. Which protocol is selected (client's order, the
# route's list, implicit acceptance only on bridged routes without a list), base64 framing both
# ways (text frames, each a complete padded string; streaming decoding of what the client sends),
# and the strictness of the decoder (1007, and 1003 for a binary frame). Independent clients:
# python3-websockets (asyncio API; Debian 12 ships 10.4, which has no sync client) and
# Mojo::UserAgent; raw frames for what they would not send.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use WsgateMojo;
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use Time::HiRes qw(sleep time);
use WsgateTest;

my $T0 = time;
my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->utf8->canonical;
my $PY = '/usr/bin/python3';
my $have_py = -x $PY && system($PY, '-c', 'import websockets') == 0;

# ---- helpers ----

sub b64 { encode_base64($_[0], '') }

# True if $s is one complete, padded, canonical base64 string (what a strict decoder accepts on
# its own and what an encoder of the decoded bytes gives back).
sub padded_b64 {
  my ($s) = @_;
  return 0 unless length $s && length($s) % 4 == 0 && $s =~ m{^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$};
  return b64(decode_base64($s)) eq $s ? 1 : 0;
}

sub pattern {
  my ($n, $seed) = @_;
  my $block = join '', map { chr(($_ * 13 + $seed) % 256) } 0 .. 4095;
  return substr($block x (int($n / 4096) + 1), 0, $n);
}

# ---- backends and gateway ----

my $echo = tcp_echo_server();
my $uecho = tcp_echo_server(unix => "$dir/echo.sock");
my @rec_names = qw(mojo split pad frag bytes py txt);
my %rec = map { $_ => recorder("$dir/$_.rec") } @rec_names;
# Three writes 0.3 s apart (three reads, three frames, no length divisible by 3), then EOF.
my @burst = ("\x00", "\x01\x02", "\x03\x04\x05\x06\xff");
my $burst = scripted(sub { for (@burst) { send_all($_[0], $_); sleep 0.3 } shutdown($_[0], 1) });
# One byte, then a long pause: the byte must not wait for more.
my $lone = scripted(sub { send_all($_[0], "\xfb"); sleep 3; send_all($_[0], "\xef\xbe") });
# Bytes that are not UTF-8, then EOF: on a text route only base64 can carry them.
my $notutf8 = "\xff\xfe\x00\x80\xc3";
my $bytes = scripted(sub { send_all($_[0], $notutf8); shutdown($_[0], 1) });

my $ini = '';
my $route = sub {
  my ($name, $backend, @kv) = @_;
  $ini .= "[route $name]\npath = /$name\nbackend = $backend\n" . join('', map { "$_\n" } @kv) . "\n";
};
$route->('bin', $echo->backend);                      # no type, no protocols: binary default
$route->('unix', $uecho->backend);
$route->("rec-$_", $rec{$_}->backend) for grep { $_ ne 'txt' } @rec_names;
$route->('rec-txt', $rec{txt}->backend, 'type = text');
$route->('txt-bytes', $bytes->backend, 'type = text');
$route->('burst', $burst->backend);
$route->('lone', $lone->backend);
$route->('txt', $echo->backend, 'type = text');
$route->('chat', $echo->backend, 'protocols = chat');
$route->('chat-txt', $echo->backend, 'type = text', 'protocols = chat');
$route->('b64chat', $echo->backend, 'protocols = base64, chat');
$route->('echo', 'echo');
my $gw = wsgate($ini);
my $port = $gw->port;

# ---- python3-websockets client ----
#
# client.py URL JSON; JSON = {protocols: [...] or null, steps: [...]}. Steps:
#   ["text", STR] / ["binary_hex", HEX]   send one message
#   ["recv", SECS]                        receive one message: {type, text | hex}
#   ["b64_rt", N, SEED, [CHUNK, ...]]     send the base64 of N random bytes as text messages of
#                                         the given sizes (cycled), then receive until N bytes
#                                         have been decoded; report the facts about the frames
#   ["bin_rt", N, SEED]                   send N random bytes in one binary message, receive
#                                         until N bytes; report the facts
# Prints JSON {subprotocol, results, close_code, error}.
my $client_py = <<'PY';
import asyncio, base64, binascii, json, random, sys
import websockets

url, o = sys.argv[1], json.loads(sys.argv[2])

def padded(s):
    if not isinstance(s, str) or not s or len(s) % 4:
        return False
    try:
        d = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return False
    return base64.b64encode(d).decode() == s

async def main():
    out = {"results": []}
    kw = dict(max_size=None, ping_interval=None, close_timeout=2, compression=None, open_timeout=5)
    if o.get("protocols"):
        kw["subprotocols"] = o["protocols"]
    try:
        async with websockets.connect(url, **kw) as ws:
            out["subprotocol"] = ws.subprotocol
            out["header"] = ws.response_headers.get("Sec-WebSocket-Protocol")
            for st in o.get("steps", []):
                if st[0] == "text":
                    await ws.send(st[1])
                elif st[0] == "binary_hex":
                    await ws.send(bytes.fromhex(st[1]))
                elif st[0] == "recv":
                    m = await asyncio.wait_for(ws.recv(), st[1])
                    if isinstance(m, str):
                        out["results"].append({"type": "text", "text": m})
                    else:
                        out["results"].append({"type": "binary", "hex": m.hex()})
                elif st[0] == "b64_rt":
                    n, seed, chunks = st[1], st[2], st[3]
                    data = random.Random(seed).randbytes(n)
                    enc = base64.b64encode(data).decode()
                    pos, i, sent = 0, 0, 0
                    while pos < len(enc):
                        c = chunks[i % len(chunks)]
                        await ws.send(enc[pos:pos + c])
                        pos += c; i += 1; sent += 1
                    got, frames, nontext, unpadded = b"", 0, 0, 0
                    while len(got) < n:
                        m = await asyncio.wait_for(ws.recv(), 10)
                        frames += 1
                        if not isinstance(m, str):
                            nontext += 1
                            got += m
                            continue
                        if not padded(m):
                            unpadded += 1
                        got += base64.b64decode(m + "=" * (-len(m) % 4))
                    out["results"].append({"n": n, "sent": sent, "frames": frames,
                                           "nontext": nontext, "unpadded": unpadded,
                                           "len": len(got), "equal": got == data})
                elif st[0] == "bin_rt":
                    n, seed = st[1], st[2]
                    data = random.Random(seed).randbytes(n)
                    await ws.send(data)
                    got, frames, nonbin = b"", 0, 0
                    while len(got) < n:
                        m = await asyncio.wait_for(ws.recv(), 10)
                        frames += 1
                        if isinstance(m, str):
                            nonbin += 1
                            m = m.encode()
                        got += m
                    out["results"].append({"n": n, "frames": frames, "nonbinary": nonbin,
                                           "len": len(got), "equal": got == data})
            await ws.close(1000, "done")
        out["close_code"] = ws.close_code
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out))

asyncio.run(main())
PY
open my $pyfh, '>', "$dir/client.py" or die;
print $pyfh $client_py;
close $pyfh;

sub py {
  my ($path, $protocols, @steps) = @_;
  open(my $ph, '-|', $PY, "$dir/client.py", $gw->url($path),
    $json->encode({ protocols => $protocols, steps => \@steps })) or die "python3: $!";
  local $/;
  my $out = <$ph>;
  close $ph;
  my $r = eval { $json->decode($out) } // { error => "bad output: $out" };
  return $r;
}

# Checks a python report: no error, the selected subprotocol, a clean close.
sub py_ok {
  my ($r, $proto, $name) = @_;
  my @ok = (is($r->{error}, undef, "$name: no client error"),
    is($r->{subprotocol}, $proto, "$name: subprotocol " . ($proto // 'none')),
    is($r->{close_code}, 1000, "$name: clean close 1000"));
  diag explain $r if grep { !$_ } @ok;
  return !grep { !$_ } @ok;
}

# Raw client offering $offer on $path; returns ($sock, \$buf, $response).
sub raw_session {
  my ($path, $offer) = @_;
  return ws_open($port, $path, defined $offer ? ('Sec-WebSocket-Protocol' => $offer) : ());
}

# ==== 1. tcp:// route without protocols: base64 ====

SKIP: {
  skip 'python3 with websockets not available', 15 unless $have_py;
  my $n = (256 << 10) + 12_345;
  my $r = py('/bin', ['base64'], ['b64_rt', $n, 7, [4096, 1, 65537, 7, 3, 100_003]],
    ['b64_rt', 1, 8, [4]], ['b64_rt', 2, 9, [1]]);
  py_ok($r, 'base64', 'python [base64] on a tcp:// route without protocols');
  is($r->{header}, 'base64', 'the 101 names Sec-WebSocket-Protocol: base64');
  my ($big, $one, $two) = @{ $r->{results} };
  ok($big && $big->{equal}, "a $n-byte random payload round-trips exactly through base64")
    or diag explain $big;
  is($big && $big->{nontext}, 0, 'every frame from wsgate is a text frame');
  is($big && $big->{unpadded}, 0,
    'every text frame holds one complete padded base64 string (' . ($big ? $big->{frames} : 0) . ' frames)');
  cmp_ok($big ? $big->{frames} : 0, '>', 1, 'the big payload came back in several frames');
  ok($one && $one->{equal} && !$one->{unpadded} && !$one->{nontext}, '1 byte sent as one group comes back padded');
  ok($two && $two->{equal} && !$two->{unpadded} && !$two->{nontext},
    '2 bytes sent one base64 character a message come back padded');

  # The backend receives the decoded bytes, not base64.
  my $data = pattern(70_000, 3);
  my $enc = b64($data);
  my @parts;
  for (my ($p, $i) = (0, 0); $p < length $enc; $i++) { my $c = (5, 4093, 17)[$i % 3]; push @parts, substr($enc, $p, $c); $p += $c }
  $r = py('/rec-py', ['base64'], map { ['text', $_] } @parts);
  py_ok($r, 'base64', 'python [base64] toward a recorder');
  ok(wait_for(5, sub { length(slurp("$dir/py.rec") // '') >= length $data }), 'the recorder gets the data');
  ok((slurp("$dir/py.rec") // '') eq $data, 'decoded and byte-exact, from ' . @parts . ' text messages')
    or diag 'got ' . length(slurp("$dir/py.rec") // '') . ' bytes';
}

# The same with Mojo::UserAgent as the client.
{
  my $st = mojo_ws($gw->url('/rec-mojo'), ['base64']);
  ok($st->{tx} && $st->{tx}->is_websocket, 'Mojo [base64]: upgraded');
  is($st->{tx}->res->headers->sec_websocket_protocol, 'base64', 'Mojo [base64]: protocol base64');
  my $data = join('', map { chr } 0 .. 255) . pattern(10_000, 5);
  my $enc = b64($data);
  # Whole groups, a group cut in three, and two padded strings in a row.
  $st->{tx}->send({text => substr($enc, 0, 100)});
  $st->{tx}->send({text => substr($enc, 100, 1)});
  $st->{tx}->send({text => substr($enc, 101, 2)});
  $st->{tx}->send({text => substr($enc, 103)});
  $st->{tx}->send({text => b64('x') . b64('yz') . b64('!')});
  my $want = $data . 'xyz!';
  run_until(5, sub { length(slurp("$dir/mojo.rec") // '') >= length $want });
  ok((slurp("$dir/mojo.rec") // '') eq $want, 'Mojo [base64]: the backend receives the decoded bytes')
    or diag unpack('H*', substr(slurp("$dir/mojo.rec") // '', -40));
  $st->{tx}->finish(1000);
  run_until(5, sub { mojo_gone($st) });
  is($st->{code}, 1000, 'Mojo [base64]: clean close');
}

# Backend -> client: each backend read is one frame, decodable on its own; nothing waits.
{
  my ($s, $buf, $res) = raw_session('/burst', 'base64');
  is($res && $res->{headers}{'sec-websocket-protocol'}, 'base64', '/burst: raw client gets base64');
  my ($code, $reason, $frames) = read_until_close($s, 5, $buf);
  is_deeply([map { [$_->{opcode}, $_->{fin}, $_->{payload}] } @$frames],
    [map { [1, 1, b64($_)] } @burst],
    'three backend writes 0.3 s apart: three final text frames, each the padded base64 of one write')
    or diag explain $frames;
  is($code, 1000, 'backend EOF: close 1000');
  close $s;
}
{
  my ($s, $buf, $res) = raw_session('/lone', 'base64');
  my $t0 = time;
  my $f = read_frame($s, 2, $buf);
  ok($f && $f->{opcode} == 1 && $f->{payload} eq b64("\xfb"), 'a lone backend byte arrives as "+w=="')
    or diag explain $f;
  cmp_ok(time - $t0, '<', 1.5, 'at once: it does not wait for the rest of a group');
  $f = read_frame($s, 5, $buf);
  ok($f && $f->{opcode} == 1 && $f->{payload} eq b64("\xef\xbe"), 'the next write is its own padded string')
    or diag explain $f;
  close $s;
}

# A unix: backend takes base64 implicitly too.
{
  my $st = mojo_ws($gw->url('/unix'), ['base64']);
  is($st->{tx} && $st->{tx}->res->headers->sec_websocket_protocol, 'base64', 'unix: route: Mojo [base64] gets base64');
  my $data = "\x00\xff unix \x80";
  $st->{tx}->send({text => b64($data)}) if $st->{tx}->is_websocket;
  run_until(5, sub { length $st->{data} >= length b64($data) || $st->{finished} });
  my @f = grep { $_->[4] <= 2 } @{ $st->{frames} };
  ok(@f && !grep({ $_->[4] != 1 || !padded_b64($_->[5]) } @f), 'unix: route: text frames of padded base64');
  is(join('', map { decode_base64($_->[5]) } @f), $data, 'unix: route: round trip');
  $st->{tx}->finish(1000);
  run_until(5, sub { mojo_gone($st) });
}

# ==== 2. binary ====

SKIP: {
  skip 'python3 with websockets not available', 5 unless $have_py;
  my $r = py('/bin', ['binary'], ['bin_rt', 300_000, 11], ['text', 'QUJD'], ['recv', 5]);
  py_ok($r, 'binary', 'python [binary] on a tcp:// route without protocols');
  my ($rt, $echoed) = @{ $r->{results} };
  ok($rt && $rt->{equal} && !$rt->{nonbinary}, '300000 random bytes round-trip in plain binary frames')
    or diag explain $rt;
  is_deeply($echoed, { type => 'binary', hex => unpack('H*', 'QUJD') },
    'a text message "QUJD" is not decoded: the backend echoes QUJD, in a binary frame');
}
{
  my $st = mojo_ws($gw->url('/bin'), ['binary']);
  is($st->{tx} && $st->{tx}->res->headers->sec_websocket_protocol, 'binary', 'Mojo [binary]: protocol binary');
  my $data = pattern(5000, 9);
  $st->{tx}->send({binary => $data}) if $st->{tx}->is_websocket;
  run_until(5, sub { length $st->{data} >= length $data || $st->{finished} });
  my @f = grep { $_->[4] <= 2 } @{ $st->{frames} };
  ok(@f && !grep({ $_->[4] != 2 } @f), 'Mojo [binary]: binary frames back');
  ok($st->{data} eq $data, 'Mojo [binary]: byte-exact');
  $st->{tx}->finish(1000);
  run_until(5, sub { mojo_gone($st) });
}

# ==== 3. the client's order of preference ====

for my $case ([[qw(binary base64)], 'binary'], [[qw(base64 binary)], 'base64'], [[qw(foo base64)], 'base64'],
              [[qw(foo binary)], 'binary'], [['foo'], undef]) {
  my ($offer, $want) = @$case;
  my $label = join ',', @$offer;
  my $st = mojo_ws($gw->url('/bin'), $offer);
  is($st->{tx} && $st->{tx}->res->headers->sec_websocket_protocol, $want,
    "Mojo offers [$label]: " . ($want // 'no protocol'));
  if ($st->{tx} && $st->{tx}->is_websocket) {
    my $data = "\x01\x02\x03 order";
    if (($want // '') eq 'base64') { $st->{tx}->send({text => b64($data)}) }
    else { $st->{tx}->send({binary => $data}) }
    run_until(5, sub { length $st->{data} >= (($want // '') eq 'base64' ? length b64($data) : length $data) });
    my $got = ($want // '') eq 'base64' ? decode_base64($st->{data}) : $st->{data};
    my @ops = map { $_->[4] } grep { $_->[4] <= 2 } @{ $st->{frames} };
    my $op = ($want // '') eq 'base64' ? 1 : 2;
    ok($got eq $data && @ops && !grep({ $_ != $op } @ops), "Mojo offers [$label]: framing follows (opcode $op)");
    $st->{tx}->finish(1000);
    run_until(5, sub { mojo_gone($st) });
  }
}
SKIP: {
  skip 'python3 with websockets not available', 3 unless $have_py;
  for my $case ([[qw(binary base64)], 'binary'], [[qw(base64 binary)], 'base64'], [[qw(foo base64)], 'base64']) {
    my ($offer, $want) = @$case;
    my $r = py('/bin', $offer);
    is($r->{subprotocol} // $r->{error}, $want, 'python offers [' . join(',', @$offer) . "]: $want");
  }
}
{
  my ($s, $buf, $res) = raw_session('/bin', 'foo, base64 ,binary');
  is($res && $res->{headers}{'sec-websocket-protocol'}, 'base64', 'raw offer "foo, base64 ,binary": base64');
  close $s;
}

# ==== 4. type = text route ====

SKIP: {
  skip 'python3 with websockets not available', 9 unless $have_py;
  my $r = py('/txt', ['base64'], ['b64_rt', 100_000, 21, [999, 4]], ['text', b64("\xff\xfe\x00")], ['recv', 5]);
  py_ok($r, 'base64', 'python [base64] on a type = text route');
  my ($rt, $one) = @{ $r->{results} };
  ok($rt && $rt->{equal} && !$rt->{nontext} && !$rt->{unpadded},
    'random (non-UTF-8) bytes round-trip as padded base64 in text frames') or diag explain $rt;
  is_deeply($one, { type => 'text', text => b64("\xff\xfe\x00") }, 'invalid UTF-8 from the backend is fine in base64');
  $r = py('/txt', undef, ['text', "h\x{e9}llo \x{20ac}"], ['recv', 5]);
  py_ok($r, undef, 'python without an offer on the text route');
  is_deeply($r->{results}, [{ type => 'text', text => "h\x{e9}llo \x{20ac}" }], 'without an offer: plain text frames');
}
{
  # Client -> backend on a text route: decoded bytes, UTF-8 or not.
  my $data = "\xff\x00\xfe text \xc3";
  my ($s, $buf, $res) = raw_session('/rec-txt', 'base64');
  is($res && $res->{headers}{'sec-websocket-protocol'}, 'base64', 'text route toward a recorder: base64 selected');
  send_all($s, client_frame(1, substr(b64($data), 0, 5)) . client_frame(1, substr(b64($data), 5)));
  ok(wait_for(5, sub { length(slurp("$dir/txt.rec") // '') >= length $data }), 'text route: data reaches the backend');
  is(slurp("$dir/txt.rec"), $data, 'text route: the backend gets the decoded (non-UTF-8) bytes');
  close $s;
  # Backend -> client: non-UTF-8 bytes come as base64 text, and EOF is a clean 1000, not 1011.
  ($s, $buf, $res) = raw_session('/txt-bytes', 'base64');
  my ($code, $reason, $frames) = read_until_close($s, 5, $buf);
  is_deeply([map { [$_->{opcode}, $_->{payload}] } @$frames], [[1, b64($notutf8)]],
    'text route: non-UTF-8 backend bytes arrive as one base64 text frame') or diag explain $frames;
  is($code, 1000, 'text route: then close 1000 (no 1011: nothing is UTF-8-checked)');
  close $s;
  # Without an offer the same backend bytes are invalid UTF-8 on a text route: 1011.
  ($s, $buf, $res) = raw_session('/txt-bytes');
  ($code) = read_until_close($s, 5, $buf);
  is($code, 1011, 'text route without base64: the same bytes close with 1011');
  close $s;
}
{
  my $st = mojo_ws($gw->url('/txt'));
  is($st->{tx} && $st->{tx}->res->headers->sec_websocket_protocol, undef, 'Mojo, no offer, text route: no protocol');
  $st->{tx}->send({text => 'QUJD plain'}) if $st->{tx}->is_websocket;
  run_until(5, sub { length $st->{data} >= 10 });
  my @f = grep { $_->[4] <= 2 } @{ $st->{frames} };
  ok(@f && !grep({ $_->[4] != 1 } @f) && $st->{data} eq 'QUJD plain', 'Mojo, no offer: text comes back as sent, not decoded');
  $st->{tx}->finish(1000);
  run_until(5, sub { mojo_gone($st) });
}

# ==== 5. routes that list protocols ====

SKIP: {
  skip 'python3 with websockets not available', 12 unless $have_py;
  my $r = py('/chat', ['base64'], ['text', 'QUJD'], ['recv', 5], ['binary_hex', '00ff'], ['recv', 5]);
  py_ok($r, undef, 'python [base64] on a route listing only chat');
  is($r->{header}, undef, 'the 101 has no Sec-WebSocket-Protocol');
  is_deeply($r->{results}, [{ type => 'binary', hex => unpack('H*', 'QUJD') }, { type => 'binary', hex => '00ff' }],
    "no base64: the route's type (binary), text not decoded") or diag explain $r;
  $r = py('/chat-txt', ['base64', 'binary'], ['text', 'QUJD'], ['recv', 5]);
  is($r->{subprotocol} // $r->{error}, undef, 'python [base64,binary] on a text route listing chat: no protocol');
  is_deeply($r->{results}, [{ type => 'text', text => 'QUJD' }], 'text framing, undecoded') or diag explain $r;
  $r = py('/chat', ['base64', 'chat']);
  is($r->{subprotocol} // $r->{error}, 'chat', 'python [base64,chat] on the chat route: chat');
  $r = py('/b64chat', ['base64'], ['b64_rt', 50_000, 31, [1000]]);
  py_ok($r, 'base64', 'python [base64] on a route listing base64, chat');
  ok($r->{results}[0] && $r->{results}[0]{equal} && !$r->{results}[0]{unpadded}, 'and base64 works there')
    or diag explain $r;
}
for my $case (['/chat', ['base64'], undef], ['/chat', ['chat'], 'chat'], ['/chat', [qw(binary chat)], 'chat'],
              ['/b64chat', ['base64'], 'base64'], ['/b64chat', [qw(chat base64)], 'chat'],
              ['/b64chat', ['binary'], undef]) {
  my ($path, $offer, $want) = @$case;
  my $label = join ',', @$offer;
  my $st = mojo_ws($gw->url($path), $offer);
  ok($st->{tx} && $st->{tx}->is_websocket, "Mojo [$label] on $path: upgraded");
  is($st->{tx} && $st->{tx}->res->headers->sec_websocket_protocol, $want,
    "Mojo [$label] on $path: " . ($want // 'no protocol'));
  if ($st->{tx} && $st->{tx}->is_websocket) {
    $st->{tx}->send({text => 'QUJD'});
    run_until(5, sub { length $st->{data} >= 4 });
    my @f = map { [$_->[4], $_->[5]] } grep { $_->[4] <= 2 } @{ $st->{frames} };
    is_deeply(\@f, [[($want // '') eq 'base64' ? (1, 'QUJD') : (2, 'QUJD')]],
      "Mojo [$label] on $path: framing " . (($want // '') eq 'base64' ? 'base64' : 'binary, undecoded'));
    $st->{tx}->finish(1000);
    run_until(5, sub { mojo_gone($st) });
  }
}

# ==== 6. streaming decoding, raw frames ====

sub feed {
  my ($name, $want, @writes) = @_;
  my ($s, $buf, $res) = raw_session("/rec-$name", 'base64');
  is($res && $res->{headers}{'sec-websocket-protocol'}, 'base64', "$name: base64 selected");
  for my $w (@writes) { send_all($s, $w); sleep 0.05 }
  ok(wait_for(5, sub { length(slurp("$dir/$name.rec") // '') >= length $want }), "$name: data reaches the backend");
  sleep 0.1;
  is(slurp("$dir/$name.rec"), $want, "$name: backend received exactly the decoded bytes");
  send_all($s, client_frame(8, pack('n', 1000)));
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1000, "$name: clean close afterwards (no 1007)");
  close $s;
}
feed('split', "ABCxyz",
  client_frame(1, 'QU'), client_frame(1, 'JDeH'),         # a group split across two frames
  client_frame(1, 'l'), client_frame(1, '6'));            # then one character a frame
feed('pad', "AB", client_frame(1, 'QQ=='), client_frame(1, 'Qg=='));
feed('frag', "ABAB\x00\xff",
  client_frame(1, 'QQ==Qg=='),                            # padded strings in a row, one frame
  client_frame(1, 'QQ', fin => 0) . client_frame(0, '=', fin => 0), client_frame(0, '='),  # fragments
  client_frame(1, 'Qg=='), client_frame(1, 'AP8='));
{
  # A frame cut inside its header and payload across TCP writes.
  my $f = client_frame(1, 'SGVsbG8sIGJhc2U2NCE=');
  feed('bytes', 'Hello, base64!', map { substr($f, $_, 3) } grep { $_ % 3 == 0 } 0 .. length($f) - 1);
}

# ==== 7. invalid base64 ====

my $logged_before = () = $gw->log_text =~ /invalid base64/g;
my $n_invalid = 0;
for my $bad ('QQ=A', '!!!!', 'QQ== ', "QUJD\n", '=QQQ', 'QQ==Q===') {
  (my $label = $bad) =~ s/([^\x21-\x7e])/sprintf('\\x%02x', ord $1)/ge;
  my ($s, $buf, $res) = raw_session('/bin', 'base64');
  is($res && $res->{headers}{'sec-websocket-protocol'}, 'base64', "\"$label\": base64 selected");
  send_all($s, client_frame(1, $bad));
  my ($code, $reason, $frames) = read_until_close($s, 5, $buf);
  is($code, 1007, "\"$label\": close frame with code 1007") or diag "reason: $reason";
  ok(tcp_closed($s, $buf), "\"$label\": then EOF");
  $n_invalid++;
  close $s;
}
ok(wait_for(3, sub { my $n = () = $gw->log_text =~ /invalid base64/g; $n - $logged_before >= $n_invalid }),
  'each is logged with "invalid base64"') or diag $gw->log_text;
like($gw->log_text, qr/client sent invalid base64/, 'the log line reads "client sent invalid base64"');
{
  my ($s, $buf, $res) = raw_session('/bin', 'base64');
  send_all($s, client_frame(2, "\x00\x01\x02"));
  my ($code, $reason) = read_until_close($s, 5, $buf);
  is($code, 1003, 'a binary frame from a base64 client: close 1003') or diag "reason: $reason";
  ok(tcp_closed($s, $buf), 'then EOF');
  close $s;
}
{
  # Mojo as the offender: its text frame with a character outside the alphabet.
  my $st = mojo_ws($gw->url('/bin'), ['base64']);
  $st->{tx}->send({text => 'QUJD-_=='}) if $st->{tx}->is_websocket;
  run_until(5, sub { mojo_gone($st) });
  is($st->{code}, 1007, 'Mojo [base64] sending URL-safe base64 ("-_"): closed with 1007');
}

# ==== 8. the echo route does not take base64 implicitly ====

{
  my ($s, $buf, $res) = raw_session('/echo', 'base64');
  is($res && $res->{status}, 101, 'echo route, offer base64: 101');
  ok($res && !exists $res->{headers}{'sec-websocket-protocol'}, 'echo route: no Sec-WebSocket-Protocol in the answer')
    or diag explain $res;
  send_all($s, client_frame(1, 'QUJD'));
  my $f = read_frame($s, 5, $buf);
  ok($f && $f->{opcode} == 1 && $f->{payload} eq 'QUJD', 'echo route: text echoed as is');
  close $s;
}
{
  my $st = mojo_ws($gw->url('/echo'), [qw(base64 binary)]);
  is($st->{tx} && $st->{tx}->res->headers->sec_websocket_protocol, undef, 'echo route, Mojo [base64,binary]: no protocol');
  $st->{tx}->finish(1000) if $st->{tx} && $st->{tx}->is_websocket;
  run_until(5, sub { mojo_gone($st) });
}
SKIP: {
  skip 'python3 with websockets not available', 2 unless $have_py;
  my $r = py('/echo', ['base64'], ['binary_hex', '00ff'], ['recv', 5]);
  is($r->{subprotocol} // $r->{error}, undef, 'echo route, python [base64]: no protocol');
  is_deeply($r->{results}, [{ type => 'binary', hex => '00ff' }], 'echo route: binary echoed as binary');
}

ok(kill(0, $gw->pid), 'wsgate is still running');
diag sprintf('85-base64.t took %.1fs', time - $T0);
done_testing;
