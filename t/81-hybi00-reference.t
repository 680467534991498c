# Differential tests for hybi-00: the same request bytes go to wsgate's echo route and to an
# independent hixie-76 server (npm's websocket-driver, packaged by Debian), and the answers must
# match byte for byte: the 101 head, the 16-byte challenge and the echoed frames. The keys are
# made the way the draft tells clients to make them, with a random number, random spaces and
# random junk characters.
use strict;
use warnings;
use Test::More;
use IO::Select;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use WsgateTest;

my $NODE_PATH = '/usr/share/nodejs';
# make test installs them (tools/install-deps --test); without them this file fails.
die "needs /usr/bin/node and $NODE_PATH/websocket-driver: apt-get install nodejs node-websocket-driver\n"
  unless -x '/usr/bin/node' && -d "$NODE_PATH/websocket-driver";

(my $here = __FILE__) =~ s{/[^/]+$}{};
my $script = "$here/lib/hixie76-echo.js";

# The reference server, killed when the handle goes out of scope.
my $ref_port = empty_port();
my $reference = start_program(['/usr/bin/node', $script, $ref_port], port => $ref_port,
  env => { NODE_PATH => $NODE_PATH });
ok($reference->alive, 'the reference hixie-76 server is up');

my $gw = wsgate(<<'INI');
[route echo]
path = /*
backend = echo
INI

# Sends $req to a server and collects what comes back until $done->($got), EOF, or 3 s.
sub exchange {
  my ($port, $req, $done) = @_;
  my $s = raw_connect($port);
  send_all($s, $req);
  my $sel = IO::Select->new($s);
  my $got = '';
  my $deadline = time + 3;
  while (!$done->($got) && time < $deadline) {
    last unless $sel->can_read($deadline - time);
    my $n = sysread($s, my $buf, 65536);
    last unless $n;
    $got .= $buf;
  }
  close $s;
  return $got;
}

# A key as the draft's client makes it (section 4.1, steps 16-22).
sub make_key {
  my $spaces = 1 + int rand 12;
  my $number = int rand(int(4294967295 / $spaces) + 1);
  my @key = split //, $number * $spaces;
  my @junk = (map(chr, 0x21 .. 0x2F), map(chr, 0x3A .. 0x7E));
  for (1 .. 1 + int rand 12) { splice @key, int rand(@key + 1), 0, $junk[rand @junk] }
  for (1 .. $spaces) { splice @key, 1 + int rand(@key - 1), 0, ' ' }
  return (join('', @key), $number);
}

sub request {
  my ($k1, $k2, $key3, %o) = @_;
  my $origin = $o{origin} ? "Origin: $o{origin}\r\n" : '';
  return "GET $o{target} HTTP/1.1\r\nHost: $o{host}\r\nUpgrade: WebSocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Key1: $k1\r\n${origin}Sec-WebSocket-Key2: $k2\r\n\r\n"
    . $key3;
}

srand(6455);
my ($same, $runs) = (0, 200);
for my $i (1 .. $runs) {
  my ($k1) = make_key();
  my ($k2) = make_key();
  my $key3 = join '', map { chr int rand 256 } 1 .. 8;
  my $text = join '', map { chr(0x20 + int rand 95) } 0 .. int rand 40;
  my $req = request($k1, $k2, $key3, target => "/room/$i?x=" . int(rand 1000),
    host => $i % 2 ? 'example.com' : "127.0.0.1:$i", origin => "http://app$i.example")
    . "\x00$text\xff";
  # Done once the head, the challenge and the echoed frame are in.
  my $echoed = sub { $_[0] =~ /\r\n\r\n.{16}\x00[^\xff]*\xff/s };
  my $ref = exchange($ref_port, $req, $echoed);
  my $ours = exchange($gw->port, $req, $echoed);
  if ($ours eq $ref && $ref =~ /^HTTP\/1.1 101 / && $ref =~ /\x00\Q$text\E\xff\z/) {
    $same++;
  } else {
    diag "keys '$k1' / '$k2', key3 " . unpack('H*', $key3);
    diag 'reference: ' . unpack('H*', $ref);
    diag 'wsgate:    ' . unpack('H*', $ours);
    last;
  }
}
is($same, $runs, "$runs random handshakes and echoes: wsgate answers byte for byte as the reference");

# Keys the draft's server must refuse: both refuse them (the reference by closing, wsgate with 400).
for my $bad (['no spaces', '12345', '1 2'], ['a remainder', '1 2 3', '1 2']) {
  my ($name, $k1, $k2) = @$bad;
  my $req = request($k1, $k2, 'ABCDEFGH', target => '/x', host => 'example.com');
  my $ref = exchange($ref_port, $req, sub { 0 });
  my $ours = exchange($gw->port, $req, sub { 0 });
  unlike($ref, qr/^HTTP\/1.1 101/, "$name: the reference refuses");
  like($ours, qr/^HTTP\/1.1 400 /, "$name: wsgate answers 400");
}

# The closing frame: both answer 0xFF 0x00. (The request carries an Origin: without one the
# reference leaves Sec-WebSocket-Origin out, while wsgate answers "null", because clients such as
# Protocol::WebSocket tell a hybi-00 answer by that field.)
{
  my ($k1) = make_key();
  my ($k2) = make_key();
  my $req = request($k1, $k2, '12345678', target => '/close', host => 'h', origin => 'http://h')
    . "\xff\x00";
  my $ref = exchange($ref_port, $req, sub { 0 });
  my $ours = exchange($gw->port, $req, sub { 0 });
  is(unpack('H*', substr($ours, -2)), 'ff00', 'wsgate answers the closing frame with 0xFF 0x00');
  is(unpack('H*', $ours), unpack('H*', $ref), 'and byte for byte as the reference');
}

done_testing;
