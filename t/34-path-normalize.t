# Request paths are normalized before routes match (issue 12, finding 2): a prefix route cannot
# be escaped with dot-segments, encoded dots or doubled slashes, ws:// backends receive the
# normalized path with the query untouched, malformed escapes, %00 and climbs above the root
# are 400, and the access log and hybi-00's Location keep what the client sent. Backends are
# raw sockets that answer with the request line they received; clients are raw sockets (for
# what polite clients refuse to send), python3-websockets and Protocol::WebSocket (hybi-00).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha1_base64);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use Protocol::WebSocket::Handshake::Client;
use WsgateTest;

my $dir = tempdir(CLEANUP => 1);

# A ws:// backend that answers any upgrade with a 101 and then one text message,
# "TAG REQUEST-LINE", so the client sees which backend got the request and with what target.
sub line_backend {
  my ($tag) = @_;
  return start_server(sub {
    my $c = shift;
    my $buf = '';
    while ($buf !~ /\r\n\r\n/) { sysread($c, $buf, 65536, length $buf) or return }
    my ($line) = $buf =~ /^([^\r\n]*)/;
    my ($key) = $buf =~ /^Sec-WebSocket-Key:[ \t]*(\S+)/mi;
    my $accept = sha1_base64(($key // '') . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
    my $msg = "$tag $line";
    my $len = length $msg;
    send_all($c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      . "Connection: Upgrade\r\nSec-WebSocket-Accept: $accept\r\n\r\n"
      . ($len < 126 ? pack('CC', 0x81, $len) : pack('CCn', 0x81, 126, $len)) . $msg);
    1 while sysread($c, my $junk, 65536);
  });
}

my $app = line_backend('app');
my $admin = line_backend('admin');
my $echo = tcp_echo_server();
my $acc = "$dir/access.log";
my $gw = wsgate(<<"INI", server => "access_log = $acc\n");
[route app]
path = /app/*
backend = ws://127.0.0.1:${\ $app->port}

[route admin]
path = /admin
backend = ws://127.0.0.1:${\ $admin->port}

[route tcp]
path = /tcp/*
backend = ${\ $echo->backend}
INI
my $port = $gw->port;

# Opens $target with a raw upgrade; returns (status, the backend's message or undef).
sub try_target {
  my ($target) = @_;
  my ($s, $buf, $res) = ws_open($port, $target);
  my $status = $res ? $res->{status} : 'no answer';
  my $msg;
  if ($status eq '101') {
    my $f = read_frame($s, 5, $buf);
    $msg = $f && $f->{payload};
  }
  close $s;
  return ($status, $msg);
}

# ---- 1. what each target reaches, and with which request line ----
my @cases = (
  # [client's target, status, backend's message for a 101]
  ['/app/../admin', 101, 'admin GET /admin HTTP/1.1'],
  ['/app/%2e%2e/admin', 101, 'admin GET /admin HTTP/1.1'],
  ['/app/%2E%2E/admin', 101, 'admin GET /admin HTTP/1.1'],
  ['/app/.%2e/admin?x=1', 101, 'admin GET /admin?x=1 HTTP/1.1'],
  ['/app/./x', 101, 'app GET /app/x HTTP/1.1'],
  ['/app/./x?q=%2e%2e/../y', 101, 'app GET /app/x?q=%2e%2e/../y HTTP/1.1'],
  ['/app//x', 101, 'app GET /app/x HTTP/1.1'],
  ['//app///x//', 101, 'app GET /app/x/ HTTP/1.1'],
  ['/app/x/.', 101, 'app GET /app/x/ HTTP/1.1'],
  ['/app/%7euser', 101, 'app GET /app/~user HTTP/1.1'],
  ['/app/a%2fb', 101, 'app GET /app/a%2Fb HTTP/1.1'],
  ['/app/..%2f..%2fadmin', 101, 'app GET /app/..%2F..%2Fadmin HTTP/1.1'],
  ['/app/x', 101, 'app GET /app/x HTTP/1.1'],
  ['/app/../other', 404, undef],
  ['/%2e%2e/x', 400, undef],
  ['/app/../../admin', 400, undef],
  ['/..', 400, undef],
  ['/app/%00', 400, undef],
  ['/app/%zz', 400, undef],
  ['/app/..\\admin', 400, undef],
  ['/app/..%5cadmin', 101, 'app GET /app/..%5Cadmin HTTP/1.1'],
  ['/app/%4', 400, undef],
  ['/app/%', 400, undef],
  ["/app/\x01x", 400, undef],
);
for my $c (@cases) {
  my ($target, $want_status, $want_msg) = @$c;
  my $name = $target =~ s/([^\x21-\x7e])/sprintf('\\x%02x', ord $1)/ger;
  my ($status, $msg) = try_target($target);
  is($status, $want_status, "$name: $want_status");
  is($msg, $want_msg, "$name: the backend got \"$want_msg\"") if defined $want_msg;
}

# A space inside the target splits the request line: refused before any route is looked at.
{
  my $s = raw_connect($port);
  send_all($s, "GET /app/a b HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . "Sec-WebSocket-Version: 13\r\n\r\n");
  my $res = read_http_response($s, 5);
  is($res && $res->{status}, 400, 'a space in the target: 400');
  close $s;
}

# ---- 2. bridged routes match the normalized path too ----
{
  my ($s, $buf, $res) = ws_open($port, '/tcp/./x//y');
  is($res && $res->{status}, 101, 'bridge: /tcp/./x//y matches /tcp/*');
  send_all($s, client_frame(2, 'ping-bytes'));
  my $f = read_frame($s, 5, $buf);
  is($f && $f->{payload}, 'ping-bytes', 'bridge: and the TCP echo answers');
  close $s;
  ($s, $buf, $res) = ws_open($port, '/tcp/%2e%2e/elsewhere');
  is($res && $res->{status}, 404, 'bridge: /tcp/%2e%2e/elsewhere leaves /tcp/*: 404');
  close $s;
}

# ---- 3. the access log keeps the target as the client sent it ----
ok(wait_for(5, sub { (slurp($acc) // '') =~ m{"/app/\.%2e/admin\?x=1" route=admin } }),
  'access log: the raw target, with the route it matched after normalizing')
  or diag slurp($acc);
like(slurp($acc) // '', qr{"/app/%zz" route=- backend=- status=400 },
  'access log: a refused path as sent, with its 400');

# ---- 4. an independent client: python3-websockets ----
SKIP: {
  my $PY = '/usr/bin/python3';
  skip 'needs /usr/bin/python3 with websockets', 1
    unless -x $PY && system($PY, '-c', 'import websockets') == 0;
  my $py = <<'PY';
import asyncio, sys
import websockets
async def main():
    async with websockets.connect(sys.argv[1], ping_interval=None, close_timeout=2) as ws:
        print(await asyncio.wait_for(ws.recv(), 5))
asyncio.run(main())
PY
  my ($rc, $out) = run_command(15, $PY, '-c', $py, "ws://127.0.0.1:$port/app/%2e%2e/admin?q=%2e%2e");
  is($out, "admin GET /admin?q=%2e%2e HTTP/1.1\n",
    'python3-websockets: /app/%2e%2e/admin reaches /admin, the query as sent');
}

# ---- 5. hybi-00: the Location names the URL the client used; the backend gets it normalized ----
{
  my $target = '/app/./h00?a=%2e';
  my $hs = Protocol::WebSocket::Handshake::Client->new(url => "ws://127.0.0.1:$port$target",
    version => 'draft-ietf-hybi-00');
  my $s = raw_connect($port);
  send_all($s, $hs->to_string);
  my $buf = '';
  my $sel = IO::Select->new($s);
  my $deadline = time + 5;
  while ($buf !~ /\r\n\r\n.{16}/s && $sel->can_read($deadline - time)) {
    sysread($s, $buf, 65536, length $buf) or last;
  }
  my ($loc) = $buf =~ /^Sec-WebSocket-Location: ([^\r\n]*)/mi;
  is($loc, "ws://127.0.0.1:$port$target", 'hybi-00: Location is the target as sent');
  my ($head_and_challenge) = $buf =~ /^(.*?\r\n\r\n.{16})/s;
  ok($head_and_challenge && $hs->parse($head_and_challenge) && $hs->is_done,
    'hybi-00: Protocol::WebSocket accepts the handshake') or diag $hs->error;
  while ($buf !~ /\r\n\r\n.{16}\x00[^\xff]*\xff/s && $sel->can_read($deadline - time)) {
    sysread($s, $buf, 65536, length $buf) or last;
  }
  my ($msg) = $buf =~ /\r\n\r\n.{16}\x00([^\xff]*)\xff/s;
  is($msg, 'app GET /app/h00?a=%2e HTTP/1.1', 'hybi-00: the backend got the normalized path');
  close $s;
}

# ---- 6. a route path that no normalized request could match is a config error ----
{
  my ($st, $out) = check_config("[route r]\npath = /app/%2e%2e/admin\nbackend = echo\n");
  isnt($st, 0, 'wsgate -t refuses path = /app/%2e%2e/admin');
  is(named_line($out), "path = /app/%2e%2e/admin\n", '... naming its line');
  like($out, qr{write "/admin"}, '... and the path to write instead') or diag $out;
}

done_testing;
