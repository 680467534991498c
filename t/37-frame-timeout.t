# frame_timeout: a client frame must arrive whole within the limit of its first byte, whatever
# idle_timeout says (here 0). Raw-socket RFC 6455 clients (a stalled header, a trickled frame,
# slow but whole frames), a hybi-00 client from Protocol::WebSocket, and a ws:// route to a
# python3-websockets backend, where the payload streams through as it comes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Select;
use Time::HiRes qw(sleep time);
use Protocol::WebSocket::Handshake::Client;
use WsgateTest;

$SIG{PIPE} = 'IGNORE';  # a trickler may write after wsgate closed

my $PY = '/usr/bin/python3';
my $have_py = -x $PY && system($PY, '-c', 'import websockets') == 0;
my $dir = tempdir(CLEANUP => 1);
my ($backend, $bport);
if ($have_py) {
  open my $fh, '>', "$dir/echo.py" or die;
  print $fh <<'PY';
import asyncio, sys
import websockets

async def echo(ws, path):
    async for m in ws:
        await ws.send(m)

async def main():
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1])):
        await asyncio.Future()

asyncio.run(main())
PY
  close $fh;
  $bport = empty_port();
  $backend = start_program([$PY, "$dir/echo.py", $bport], port => $bport);
}

my $tcp = tcp_echo_server();
my $gw = wsgate(<<"INI" . ($have_py ? <<"PROXY" : ''));
[route e]
path = /e
backend = echo
frame_timeout = 1s

[route off]
path = /off
backend = echo
frame_timeout = 0

[route t]
path = /t
backend = ${\ $tcp->backend }
type = text
frame_timeout = 1s
INI

[route p]
path = /p
backend = ws://127.0.0.1:$bport
frame_timeout = 1s
PROXY
my $port = $gw->port;

sub open_ws {
  my ($path) = @_;
  my ($s, $buf, $res) = ws_open($port, $path);
  is($res && $res->{status}, 101, "$path: 101");
  return ($s, $buf);
}

# Writes $bytes one byte every $gap seconds, reading what comes back (the echo streams pieces
# of the frame), and stops early at wsgate's close frame or EOF. Returns the seconds it took
# and whether wsgate closed.
sub trickle {
  my ($s, $bytes, $gap, $buf) = @_;
  my $sel = IO::Select->new($s);
  my $t0 = time;
  for my $b (split //, $bytes) {
    syswrite($s, $b);
    my $until = time + $gap;
    while ((my $left = $until - time) > 0) {
      last unless $sel->can_read($left);
      my $f = read_frame($s, 1, $buf);
      return (time - $t0, 1) if !$f || $f->{opcode} == 8;
    }
  }
  return (time - $t0, 0);
}

# The payload of one echoed message, however many frames it came back in.
sub read_message {
  my ($s, $buf) = @_;
  my $data = '';
  while (my $f = read_frame($s, 5, $buf)) {
    $data .= $f->{payload};
    return $data if $f->{fin};
  }
  return undef;
}

my $frame = client_frame(2, 'x' x 100);    # a masked 100-byte binary frame: 106 bytes

# ---- a stalled header ----
{
  my ($s, $buf) = open_ws('/e');
  my $t0 = time;
  send_all($s, substr($frame, 0, 2));
  my ($code, $reason) = read_until_close($s, 8, $buf);
  my $took = time - $t0;
  is($code, 1008, 'two header bytes and nothing more: close 1008');
  is($reason, 'frame timeout', 'with the reason "frame timeout"');
  cmp_ok($took, '<', 5, 'well within a generous bound') or diag "took $took s";
  cmp_ok($took, '>', 0.8, 'and not before frame_timeout');
  ok(tcp_closed($s, $buf, 5), 'then TCP closes');
}

# ---- a trickled frame: every byte in time, the frame not ----
{
  my ($s, $buf) = open_ws('/e');
  my $pending = '';
  my ($took, $closed) = trickle($s, $frame, 0.3, \$pending);
  ok($closed, 'a frame trickled one byte per 300 ms is cut off') or diag "took $took s";
  cmp_ok($took, '<', 5, 'within a generous bound of its first byte');
  ok(tcp_closed($s, '', 5), 'and TCP closes');
}

# ---- slow but whole frames: fine without idle_timeout ----
{
  my ($s, $buf) = open_ws('/e');
  my $echoed = 0;
  for my $i (1 .. 3) {
    sleep 1.5 if $i > 1;
    send_all($s, client_frame(1, "msg $i"));
    my $f = read_frame($s, 5, $buf);
    $echoed++ if $f && $f->{opcode} == 1 && $f->{payload} eq "msg $i";
  }
  is($echoed, 3, 'whole frames 1.5 s apart (longer than frame_timeout) are all echoed');
  send_all($s, client_frame(8, pack('n', 1000)));
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1000, 'and the session closes normally');
}

# ---- frame_timeout = 0: the trickler stays ----
{
  my ($s, $buf) = open_ws('/off');
  my ($took, $closed) = trickle($s, substr($frame, 0, 9), 0.3, $buf);
  ok(!$closed, 'frame_timeout = 0: a trickler is not cut off') or diag "took $took s";
  cmp_ok($took, '>', 2, 'past 2 s');
  send_all($s, substr($frame, 9));
  my $m = read_message($s, $buf);
  is($m && length $m, 100 - 3, 'and the rest of its frame is echoed');
}

# ---- hybi-00 ----
sub h00_open {
  my ($path) = @_;
  my $hs = Protocol::WebSocket::Handshake::Client->new(url => "ws://127.0.0.1:$port$path",
    version => 'draft-ietf-hybi-00');
  my $s = raw_connect($port);
  send_all($s, $hs->to_string);
  my $got = '';
  my $sel = IO::Select->new($s);
  my $deadline = time + 5;
  while ($got !~ /\r\n\r\n.{16}/s && $sel->can_read($deadline - time)) {
    sysread($s, $got, 4096, length $got) or last;
  }
  ok($hs->parse($got) && $hs->is_done, "hybi-00 $path: Protocol::WebSocket accepts the 101");
  return $s;
}

{
  my $s = h00_open('/t');
  my $t0 = time;
  send_all($s, "\x00abc");
  my $sel = IO::Select->new($s);
  my $got = '';
  while ($sel->can_read(8)) { sysread($s, $got, 4096, length $got) or last }
  my $took = time - $t0;
  # The bridge passes on "abc" as it comes, so the backend's echo of it may come first.
  like(unpack('H*', $got), qr/^(?:00616263ff)?ff00$/,
    'hybi-00: a text frame left open gets the closing frame, and TCP closes')
    or diag unpack('H*', $got);
  cmp_ok($took, '<', 5, 'hybi-00: within a generous bound');

  my $s2 = h00_open('/off');
  my $sel2 = IO::Select->new($s2);
  my ($echo, $t1) = ('', time);
  for my $b (split //, "\x00abcdefgh") {
    syswrite($s2, $b);
    sleep 0.3;
    while ($sel2->can_read(0)) { sysread($s2, $echo, 4096, length $echo) or last }
  }
  cmp_ok(time - $t1, '>', 2, 'hybi-00, frame_timeout = 0: a trickler is served past 2 s');
  send_all($s2, "\xff");
  while ($echo !~ /\xff/ && $sel2->can_read(5)) { sysread($s2, $echo, 4096, length $echo) or last }
  is($echo, "\x00abcdefgh\xff", 'and its frame, once whole, is echoed in full');
}

# ---- ws:// proxy: the payload streams to the backend, the frame's time still runs ----
SKIP: {
  skip 'needs /usr/bin/python3 with websockets', 3 unless $have_py;
  my ($s, $buf) = open_ws('/p');
  send_all($s, client_frame(2, 'y' x 100) =~ s/^(.{20}).*/$1/sr);  # header and 14 payload bytes
  my $t0 = time;
  my ($code, $reason) = read_until_close($s, 8, $buf);
  is($code, 1008, 'proxy route: a relayed frame left unfinished gets close 1008');
  cmp_ok(time - $t0, '<', 5, 'within a generous bound');
}

# ---- the access log says why ----
{
  my $log = $gw->log_text;
  my @cut = $log =~ /^.*"\/e" .*close=1008 .*$/mg;
  cmp_ok(scalar @cut, '>=', 2, 'the access log records close=1008 for each cut-off client')
    or diag $log;
  like($log, qr{"/t" .*close=1008 }m, 'for the hybi-00 client too');
  like($log, qr/closing with 1008: frame timeout/, 'and the error log says frame timeout');
}

done_testing;
