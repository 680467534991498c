# The access log as operators read it: every field (target with its query, Origin, subprotocol,
# who closed), no forged line from a close reason or path full of quotes and newlines, and
# access_log_format = json, whose every line must parse, even with bytes that are not UTF-8.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use Time::HiRes qw(sleep time);
use WsgateTest;

my $dir = tempdir(CLEANUP => 1);
my $routes = <<'INI';
[route chat]
path = /chat
backend = echo
type = text
protocols = chat.v2
origins = https://example.com
INI
my $forged = qq{x"\n127.0.0.1:1 "/admin" route=admin status=101};

# One session on $port: opens /chat?room=7 with an Origin and a subprotocol, sends a close
# whose reason tries to forge a line, and waits for the answer.
sub forging_session {
  my ($port) = @_;
  my ($s, $buf, $res) = ws_open($port, '/chat?room=7', Origin => 'https://example.com',
    'Sec-WebSocket-Protocol' => 'chat.v2');
  send_all($s, client_frame(8, pack('n', 4001) . $forged));
  my ($code) = read_until_close($s, 5, $buf);
  close $s;
  return ($res && $res->{status}, $code);
}

# ---- text ----
{
  my $acc = "$dir/access.log";
  my $gw = wsgate($routes, server => "access_log = $acc\n");
  my ($status, $code) = forging_session($gw->port);
  is($status, 101, 'text: a session with Origin and subprotocol opens');
  is($code, 4001, '... and its close is answered');
  my ($s, $buf, $res) = ws_open($gw->port, '/chat', Origin => 'https://evil.example');
  is($res && $res->{status}, 403, 'a foreign Origin: 403');
  close $s;
  ok(wait_for(5, sub { (slurp($acc) // '') =~ /status=403/ }), 'both are logged');
  # The fixture's readiness probe connects and leaves: that line has no target.
  my @lines = grep { !/ "-" route=- / } split /\n/, slurp($acc);
  is(scalar @lines, 2, 'two connections, two lines: the close reason forged none')
    or diag explain \@lines;
  like($lines[0], qr{^\S+ 127\.0\.0\.1:\d+ "/chat\?room=7" route=chat backend=echo status=101 },
    'the line starts with time, client, target (path and query), route, backend, status');
  like($lines[0],
    qr{ close=4001 "x\\x22\\x0a127\.0\.0\.1:1 \\x22/admin\\x22 route=admin status=101" msgs=0/0 },
    'the reason is escaped inside its quotes');
  like($lines[0], qr{ by=client origin="https://example\.com" protocol=chat\.v2 extensions="-"$},
    'who closed, the Origin, the subprotocol and the extensions');
  like($lines[1], qr{ "/chat" route=chat .*status=403 .* by=- origin="https://evil\.example" },
    'the refused request: 403 and the Origin it came with');
  unlike(slurp($acc), qr{^127\.0\.0\.1:1 }m, 'no line starts with the forged address');
}

# ---- json ----
{
  my $acc = "$dir/access.json";
  my $gw = wsgate($routes, server => "access_log = $acc\naccess_log_format = json\n");
  my ($status) = forging_session($gw->port);
  is($status, 101, 'json: the same session');
  my $s = raw_connect($gw->port);
  send_all($s, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . "Origin: https://\xff\xfe\"q.example\r\nSec-WebSocket-Version: 13\r\n\r\n");
  my $res = read_http_response($s, 5);
  is($res && $res->{status}, 403, 'an Origin with bytes that are not UTF-8: 403');
  close $s;
  ok(wait_for(5, sub { (slurp($acc) // '') =~ /"status":403/ }), 'both are logged');
  my @lines = grep { !/"target":null/ } split /\n/, slurp($acc);
  is(scalar @lines, 2, 'one line each');
  my @obj = map { my $l = $_; eval { JSON::PP->new->utf8->decode($l) } } @lines;
  ok($obj[0] && $obj[1], 'every line is valid JSON (UTF-8)') or diag explain \@lines;
  my $o = $obj[0] || {};
  like($o->{time} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/, 'time');
  like($o->{client} // '', qr/^127\.0\.0\.1:\d+$/, 'client');
  is($o->{target}, '/chat?room=7', 'target');
  is($o->{route}, 'chat', 'route');
  is($o->{backend}, 'echo', 'backend');
  is($o->{origin}, 'https://example.com', 'origin');
  is($o->{protocol}, 'chat.v2', 'protocol');
  is($o->{extensions}, undef, 'extensions: null, none agreed');
  is($o->{status}, 101, 'status');
  is($o->{close_code}, 4001, 'close_code');
  is($o->{close_reason}, $forged, 'close_reason, newline and quotes intact after decoding');
  is($o->{closed_by}, 'client', 'closed_by');
  ok($o->{bytes_in} > 0 && $o->{bytes_out} > 0, 'bytes in and out');
  ok(defined $o->{duration_ms} && defined $o->{msgs_in} && defined $o->{msgs_out},
    'duration and messages');
  ok(!exists $o->{tls_version}, 'no TLS fields on a plain listener');
  my $bad = $obj[1] || {};
  is($bad->{status}, 403, 'the 403 line');
  is($bad->{origin}, "https://\x{ff}\x{fe}\"q.example",
    'its Origin: the bytes that are not UTF-8 as \u00XX, the quote escaped');
  is($bad->{closed_by}, undef, 'closed_by: null, never opened');
}

done_testing;
