# The framing layer (RFC 6455 section 5) over raw sockets: protocol errors and their close codes,
# UTF-8 checks, message size limits, ping/pong, echo at many lengths, fragmentation and the close
# handshake, against the built-in echo target and a TCP echo backend.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep);
use WsgateTest;

$SIG{PIPE} = 'IGNORE';

my $backend = tcp_echo_server();
my $gw = wsgate(<<"INI", server => "max_message_size = 2k\n");
[route echo]
path = /echo
backend = echo
max_message_size = 16M

[route tcp]
path = /tcp
backend = ${\ $backend->backend }
max_message_size = 16M

[route small]
path = /small
backend = echo
max_message_size = 1k

[route dflt]
path = /dflt
backend = echo
INI

# ---- helpers ----

# Opens a WebSocket on $path: ($sock, \$buf) where $buf holds bytes read past the 101.
sub session {
  my ($path) = @_;
  my ($s, $buf, $r) = ws_open($gw->port, $path);
  die "no 101 on $path: " . ($r ? $r->{line} : 'nothing') unless $r && $r->{status} == 101;
  return ($s, $buf);
}

# Expects a close frame with $code (undef: an empty close), then the TCP close.
sub expect_close {
  my ($s, $buf, $code, $name) = @_;
  my ($got, $reason) = read_until_close($s, 5, $buf);
  is($got, $code, $name) or diag "reason: $reason";
  ok(tcp_closed($s, $buf), "$name: then wsgate closes TCP");
}

# Opens a fresh connection, sends $bytes, and expects close $code and the TCP close.
sub fails_with {
  my ($path, $bytes, $code, $name) = @_;
  my ($s, $buf) = session($path);
  send_all($s, $bytes);
  expect_close($s, $buf, $code, $name);
}

# Reads one whole message (reassembling continuations); control frames read on the way are
# pushed onto @$ctrl. Returns { opcode, payload, frames, wellformed } or undef.
sub read_message {
  my ($s, $buf, $ctrl, $timeout) = @_;
  my ($op, $data, $n, $ok) = (undef, '', 0, 1);
  while (my $f = read_frame($s, $timeout // 10, $buf)) {
    $ok = 0 if $f->{masked} || $f->{rsv};
    if ($f->{opcode} >= 8) {
      push @$ctrl, $f if $ctrl;
      return undef if $f->{opcode} == 8;
      next;
    }
    $n++;
    if (!defined $op) { $op = $f->{opcode}; $ok = 0 if $op == 0 }
    elsif ($f->{opcode} != 0) { $ok = 0 }
    $data .= $f->{payload};
    return { opcode => $op, payload => $data, frames => $n, wellformed => $ok } if $f->{fin};
  }
  return undef;
}

# Writes $data from a child process, so that a large echo can be read while it is sent.
sub send_in_background {
  my ($s, $data) = @_;
  my $pid = fork // die "fork: $!";
  if ($pid == 0) { send_all($s, $data); POSIX::_exit(0) }
  return $pid;
}

# Valid UTF-8 of exactly $len bytes, mixing 1- to 4-byte characters with runs of ASCII.
sub utf8_text {
  my ($len) = @_;
  my $unit = ('abcdefghijklmnop' x 2) . "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  # 32 + 9 bytes
  my $t = $unit x int($len / length $unit);
  return $t . ('x' x ($len - length $t));
}

sub binary_data { my ($len) = @_; my $u = join '', map { chr } 0 .. 255; substr($u x (int($len / 256) + 1), 0, $len) }

# ---- RFC 6455 5.1 / 5.2 / 5.5: protocol errors -> 1002 ----

fails_with('/echo', client_frame(1, 'hello', unmasked => 1), 1002,
  'RFC 6455 5.1: unmasked client frame -> 1002');
fails_with('/tcp', client_frame(2, 'hello', unmasked => 1), 1002,
  'RFC 6455 5.1: unmasked client frame on a tcp:// route -> 1002');
for ([4, 'RSV1'], [2, 'RSV2'], [1, 'RSV3'], [7, 'RSV1+2+3']) {
  my ($rsv, $name) = @$_;
  fails_with('/echo', client_frame(1, 'hello', rsv => $rsv), 1002,
    "RFC 6455 5.2: $name set without extension -> 1002");
}
fails_with('/echo', client_frame(9, 'x', rsv => 4), 1002, 'RFC 6455 5.2: RSV1 on a ping -> 1002');
for my $op (3, 7, 0xB, 0xF) {
  fails_with('/echo', client_frame($op, 'x'), 1002, sprintf('RFC 6455 5.2: reserved opcode 0x%X -> 1002', $op));
}
fails_with('/echo', client_frame(9, 'ping', fin => 0), 1002,
  'RFC 6455 5.5: fragmented ping -> 1002');
fails_with('/echo', client_frame(9, 'x' x 126), 1002,
  'RFC 6455 5.5: ping with a 126-byte payload -> 1002');
fails_with('/echo', client_frame(10, 'x' x 126), 1002,
  'RFC 6455 5.5: pong with a 126-byte payload -> 1002');
fails_with('/echo', client_frame(0, 'orphan'), 1002,
  'RFC 6455 5.4: continuation with no message started -> 1002');
fails_with('/echo', client_frame(1, 'done') . client_frame(0, 'orphan'), 1002,
  'RFC 6455 5.4: continuation after a finished message -> 1002');
fails_with('/echo', client_frame(8, pack('n', 1000) . ('x' x 124)), 1002,
  'RFC 6455 5.5: close frame with a 126-byte payload -> 1002');
fails_with('/echo', client_frame(1, 'first', fin => 0) . client_frame(1, 'second'), 1002,
  'RFC 6455 5.4: new text frame inside a fragmented message -> 1002');
fails_with('/echo', client_frame(2, 'first', fin => 0) . client_frame(2, 'second'), 1002,
  'RFC 6455 5.4: new binary frame inside a fragmented message -> 1002');
fails_with('/echo', client_frame(1, 'a' x 10, len => 126), 1002,
  'RFC 6455 5.2: non-minimal 16-bit length (10) -> 1002');
fails_with('/echo', client_frame(1, 'a' x 125, len => 126), 1002,
  'RFC 6455 5.2: non-minimal 16-bit length (125) -> 1002');
fails_with('/echo', client_frame(2, 'a' x 10, len => 127), 1002,
  'RFC 6455 5.2: non-minimal 64-bit length (10) -> 1002');
fails_with('/echo', client_frame(2, 'a' x 65535, len => 127), 1002,
  'RFC 6455 5.2: non-minimal 64-bit length (65535) -> 1002');
fails_with('/echo', client_frame(2, '', len => 127, len64 => (1 << 63) | 5), 1002,
  'RFC 6455 5.2: 64-bit length with the most significant bit set -> 1002');
fails_with('/echo', client_frame(2, '', len => 127, len64 => 1 << 40), 1009,
  'RFC 6455 7.4.1: a 64-bit length of 2^40 -> 1009 from the header alone');
fails_with('/echo', client_frame(8, "\x03"), 1002, 'RFC 6455 5.5.1: close frame with a 1-byte payload -> 1002');
for my $code (0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535) {
  fails_with('/echo', client_frame(8, pack('n', $code) . 'why'), 1002,
    "RFC 6455 7.4.1: close code $code -> 1002");
}
for my $code (1000, 1001, 3000, 4999) {
  fails_with('/echo', client_frame(8, pack('n', $code)), $code,
    "RFC 6455 5.5.1: valid close code $code is echoed");
}
fails_with('/echo', client_frame(8, ''), undef,
  'RFC 6455 5.5.1: an empty close is answered with an empty close');
fails_with('/echo', client_frame(8, pack('n', 1000) . ("\xe2\x82\xac" x 41)), 1000,
  'RFC 6455 5.5: a 125-byte close with a UTF-8 reason is valid and echoed');

# ---- 1007: UTF-8 ----

fails_with('/echo', client_frame(1, "abc\xff"), 1007, 'RFC 6455 8.1: invalid byte 0xFF in text -> 1007');
fails_with('/echo', client_frame(1, "\xc0\xaf"), 1007, 'RFC 6455 8.1: overlong encoding in text -> 1007');
fails_with('/echo', client_frame(1, "\xed\xa0\x80"), 1007, 'RFC 6455 8.1: UTF-16 surrogate in text -> 1007');
fails_with('/echo', client_frame(1, "\xf4\x90\x80\x80"), 1007, 'RFC 6455 8.1: code point above U+10FFFF -> 1007');
fails_with('/echo', client_frame(1, "ok\xce"), 1007, 'RFC 6455 8.1: text ending inside a sequence -> 1007');
fails_with('/echo', client_frame(1, ('a' x 37) . "\x80" . ('b' x 20)), 1007,
  'RFC 6455 8.1: a stray continuation byte after a long ASCII run -> 1007');
fails_with('/tcp', client_frame(1, "abc\xff"), 1007, 'RFC 6455 8.1: invalid UTF-8 on a tcp:// route -> 1007');
fails_with('/echo', client_frame(1, "hello\xed\xa0\x80world", fin => 0), 1007,
  'RFC 6455 8.1: invalid UTF-8 in a first fragment fails fast, before the final fragment');
fails_with('/echo', client_frame(1, "abc\xce", fin => 0) . client_frame(0, "A", fin => 0), 1007,
  'RFC 6455 8.1: a sequence broken across fragments fails fast -> 1007');
fails_with('/echo', client_frame(1, 'x', fin => 0) . client_frame(0, "\xce", fin => 1), 1007,
  'RFC 6455 8.1: a message whose final fragment ends inside a sequence -> 1007');
fails_with('/echo', client_frame(8, pack('n', 1000) . "bye\xff"), 1007,
  'RFC 6455 5.5.1: close reason that is not UTF-8 -> 1007');
fails_with('/echo', client_frame(8, pack('n', 1000) . "bye\xe2\x82"), 1007,
  'RFC 6455 5.5.1: close reason ending inside a UTF-8 sequence -> 1007');
fails_with('/echo', client_frame(1, "\xce", fin => 0) . client_frame(0, "\xba", fin => 0)
    . client_frame(0, ('a' x 30) . "\xe2\x82"), 1007,
  'RFC 6455 8.1: valid split sequence, then a final fragment ending in half a euro sign -> 1007');
{
  my ($s, $buf) = session('/echo');
  send_all($s, client_frame(1, "\xce", fin => 0) . client_frame(0, "\xba", fin => 0)
    . client_frame(0, ('a' x 30) . "\xe2\x82", fin => 0) . client_frame(0, "\xac"));
  my $m = read_message($s, $buf);
  is($m && $m->{payload}, "\xce\xba" . ('a' x 30) . "\xe2\x82\xac",
    'RFC 6455 5.6: UTF-8 sequences split across fragments are accepted and echoed intact');
  is($m && $m->{opcode}, 1, 'RFC 6455 5.6: and the echo is a text message');
}

# ---- 1009: max_message_size ----

fails_with('/small', client_frame(2, 'x' x 1025), 1009,
  'RFC 6455 7.4.1: a 1025-byte frame over max_message_size = 1k -> 1009');
fails_with('/small', client_frame(1, 'x' x 600, fin => 0) . client_frame(0, 'x' x 600), 1009,
  'RFC 6455 7.4.1: fragments summing to 1200 bytes over max_message_size = 1k -> 1009');
fails_with('/small', join('', map { client_frame($_ ? 0 : 2, 'x' x 300, fin => 0) } 0 .. 3), 1009,
  'RFC 6455 7.4.1: four unfinished 300-byte fragments over 1k -> 1009 before the final one');
fails_with('/small', client_frame(2, 'x' x 1500), 1009,
  'route max_message_size = 1k overrides the [server] 2k: 1500 bytes -> 1009');
fails_with('/dflt', client_frame(2, 'x' x 2049), 1009,
  'a route without max_message_size uses the [server] 2k: 2049 bytes -> 1009');
{
  my ($s, $buf) = session('/small');
  send_all($s, client_frame(2, 'y' x 1024));
  my $m = read_message($s, $buf);
  is($m && length $m->{payload}, 1024, 'max_message_size = 1k: a 1024-byte message is echoed');
  send_all($s, client_frame(1, 'z' x 512, fin => 0) . client_frame(0, 'z' x 512));
  $m = read_message($s, $buf);
  is($m && $m->{payload}, 'z' x 1024, 'max_message_size = 1k: two 512-byte fragments are echoed');
  send_all($s, client_frame(9, 'p' x 125));
  my $f = read_frame($s, 5, $buf);
  is($f && $f->{opcode}, 10, 'control frames do not count toward max_message_size');
  ($s, $buf) = session('/dflt');
  send_all($s, client_frame(2, 'y' x 1500));
  $m = read_message($s, $buf);
  is($m && length $m->{payload}, 1500, '[server] max_message_size = 2k: 1500 bytes are echoed');
  ($s, $buf) = session('/echo');
  send_all($s, client_frame(2, 'y' x 5000));
  $m = read_message($s, $buf);
  is($m && length $m->{payload}, 5000, 'route max_message_size = 16M above the [server] 2k: 5000 bytes echoed');
}

# ---- ping / pong ----

{
  my ($s, $buf) = session('/echo');
  send_all($s, client_frame(9, 'hello ping'));
  my $f = read_frame($s, 5, $buf);
  is($f && "$f->{opcode}:$f->{payload}", '10:hello ping', 'RFC 6455 5.5.2: ping -> pong with the same payload');
  send_all($s, client_frame(9, ''));
  $f = read_frame($s, 5, $buf);
  is($f && "$f->{opcode}:$f->{payload}", '10:', 'RFC 6455 5.5.2: empty ping -> empty pong');
  my $p = join '', map { chr(($_ * 7) & 0xff) } 1 .. 125;
  send_all($s, client_frame(9, $p));
  $f = read_frame($s, 5, $buf);
  ok($f && $f->{opcode} == 10 && $f->{payload} eq $p, 'RFC 6455 5.5.2: 125-byte binary ping -> same pong');
  ok($f && !$f->{masked} && $f->{fin}, 'RFC 6455 5.1: the pong is unmasked and final');

  send_all($s, client_frame(10, 'unsolicited') . client_frame(1, 'after the pong'));
  $f = read_frame($s, 5, $buf);
  is($f && "$f->{opcode}:$f->{payload}", '1:after the pong',
    'RFC 6455 5.5.3: an unsolicited pong is ignored and the session goes on');

  my @ctrl;
  send_all($s, client_frame(1, 'frag one, ', fin => 0) . client_frame(9, 'mid')
    . client_frame(0, 'frag two, ', fin => 0) . client_frame(10, 'x') . client_frame(0, 'end'));
  my $m = read_message($s, $buf, \@ctrl);
  is($m && $m->{payload}, 'frag one, frag two, end',
    'RFC 6455 5.4: a ping interleaved in a fragmented message does not break it');
  is($m && $m->{opcode}, 1, 'RFC 6455 5.4: the message keeps its text type');
  is(join(',', map { "$_->{opcode}:$_->{payload}" } @ctrl), '10:mid',
    'RFC 6455 5.5.2: the interleaved ping gets its pong, the pong gets nothing');
  send_all($s, client_frame(8, pack('n', 1000)));
  expect_close($s, $buf, 1000, 'RFC 6455 5.5.1: close after the ping tests');
}

# ---- echo at many lengths ----

my @sizes = (0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 4 << 20);
for my $op (1, 2) {
  my $kind = $op == 1 ? 'text' : 'binary';
  my ($s, $buf) = session('/echo');
  for my $len (@sizes) {
    my $data = $op == 1 ? utf8_text($len) : binary_data($len);
    my $pid = send_in_background($s, client_frame($op, $data));
    my $m = read_message($s, $buf, undef, 20);
    waitpid($pid, 0);
    ok($m && $m->{opcode} == $op && $m->{payload} eq $data && $m->{wellformed},
      "RFC 6455 5.6: $kind message of $len bytes in one write is echoed intact")
      or diag($m ? "got opcode $m->{opcode}, " . length($m->{payload}) . " bytes" : 'no message');
  }
  setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
  for my $len (0, 1, 125, 126, 127) {
    my $data = $op == 1 ? utf8_text($len) : binary_data($len);
    for my $c (split //, client_frame($op, $data)) { send_all($s, $c); sleep 0.0005 }
    my $m = read_message($s, $buf);
    ok($m && $m->{opcode} == $op && $m->{payload} eq $data && $m->{wellformed},
      "RFC 6455 5.6: $kind message of $len bytes sent one byte per write is echoed intact");
  }
  my @parts = $op == 1 ? ('Hel', '', "lo, w\xc3", "\xa9rld", '!') : ("\x00\x01", "\xff" x 70000, '', "\x02");
  my $frames = join '', map { client_frame($_ ? 0 : $op, $parts[$_], fin => $_ == $#parts) } 0 .. $#parts;
  send_all($s, $frames);
  my $m = read_message($s, $buf);
  ok($m && $m->{opcode} == $op && $m->{payload} eq join('', @parts) && $m->{wellformed},
    "RFC 6455 5.4: fragmented $kind message (" . @parts . ' frames, one empty) is echoed intact with its type');
  send_all($s, client_frame($op, '', fin => 0) . client_frame(0, 'after an empty first fragment'));
  $m = read_message($s, $buf);
  ok($m && $m->{opcode} == $op && $m->{payload} eq 'after an empty first fragment' && $m->{wellformed},
    "RFC 6455 5.4: $kind message with an empty first fragment keeps its type");
  send_all($s, client_frame($op, '', fin => 0) . client_frame(0, '', fin => 0) . client_frame(0, ''));
  $m = read_message($s, $buf);
  ok($m && $m->{opcode} == $op && $m->{payload} eq '' && $m->{wellformed},
    "RFC 6455 5.4: $kind message of three empty fragments is echoed as an empty $kind message");
  send_all($s, client_frame(8, pack('n', 1000) . 'bye'));
  expect_close($s, $buf, 1000, "RFC 6455 5.5.1: close 1000 after the $kind echoes is answered with 1000");
}

# ---- through a TCP echo backend ----

{
  my ($s, $buf) = session('/tcp');
  for my $len (1, 125, 65536, 1 << 20, 4 << 20) {
    my $data = binary_data($len);
    my $pid = send_in_background($s, client_frame(2, $data));
    my ($got, $ops) = ('', '');
    while (length $got < $len) {
      my $f = read_frame($s, 20, $buf) or last;
      $ops .= $f->{opcode} unless $ops =~ /^$f->{opcode}$/;
      $got .= $f->{payload};
    }
    waitpid($pid, 0);
    ok($got eq $data && $ops eq '2', "tcp:// echo: $len bytes come back intact as binary frames")
      or diag 'got ' . length($got) . " bytes, opcodes $ops";
  }
  send_all($s, client_frame(1, 'frag', fin => 0) . client_frame(0, 'mented'));
  my $got = '';
  while (length $got < 10) { my $f = read_frame($s, 5, $buf) or last; $got .= $f->{payload} }
  is($got, 'fragmented', 'tcp:// echo: a fragmented message reaches the backend whole');
  send_all($s, client_frame(8, pack('n', 1000) . 'bye'));
  expect_close($s, $buf, 1000, 'RFC 6455 5.5.1: close 1000 on a tcp:// route is answered with 1000');
}

# ---- close handshake ----

{
  my ($s, $buf) = session('/echo');
  send_all($s, client_frame(8, pack('n', 1000) . 'bye'));
  my $f = read_frame($s, 5, $buf);
  is($f && $f->{opcode}, 8, 'RFC 6455 5.5.1: close 1000 "bye" is answered with a close frame');
  is($f && length $f->{payload} >= 2 && unpack('n', $f->{payload}), 1000,
    'RFC 6455 5.5.1: the answer carries code 1000');
  ok($f && !$f->{masked}, 'RFC 6455 5.1: the close frame is unmasked');
  ok(tcp_closed($s, $buf), 'RFC 6455 7.1.1: wsgate then closes TCP (read returns EOF)');
}
{
  my ($s, $buf) = session('/echo');
  send_all($s, client_frame(1, 'unfinished', fin => 0) . client_frame(8, pack('n', 1001)));
  expect_close($s, $buf, 1001, 'RFC 6455 5.4: a close inside a fragmented message is answered');
}
{
  my ($s, $buf) = session('/echo');
  send_all($s, client_frame(8, pack('n', 1000)) . client_frame(1, 'too late'));
  my ($code, undef, $frames) = read_until_close($s, 5, $buf);
  is($code, 1000, 'RFC 6455 5.5.1: data after the client close frame ...');
  is(scalar @$frames, 0, 'RFC 6455 5.5.1: ... is not echoed');
  ok(tcp_closed($s, $buf), 'RFC 6455 5.5.1: and TCP closes');
}

ok(kill(0, $gw->pid), 'wsgate is still running after all of the above');

done_testing;
