# RFC 6455 conformance regression, modelled on the case families of a conformance suite:
# framing, pings/pongs, reserved bits, opcodes, fragmentation, UTF-8 and close handling (limits
# and performance are in 26-conformance-limits.t). Every case is a row of a table (frames to
# send, what must come back); each runs on a fresh connection against the echo route and the
# tcp:// text and binary routes, once with every stage in one write and once byte by byte
# (TCP_NODELAY, one byte per write). The client side is t/lib/ConformanceClient.pm.
#
# What "comes back" is judged from the client's side only:
#  - echo route: the reassembled messages, in order, with their types; pongs in order;
#  - tcp:// routes: message boundaries are not kept, so the concatenated payload bytes, the
#    frame type of the route, and (type = text) that every single frame is valid UTF-8;
#  - every route: the close code, then wsgate closing TCP, and that every frame wsgate sends is
#    well formed (unmasked, no RSV, known opcode, minimal length, proper fragmentation).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use WsgateTest qw(client_frame rss_kib);
use ConformanceClient;

$SIG{PIPE} = 'IGNORE';
my $T_START = time;

my $gw = conformance_gateway();

# ---------------------------------------------------------------------------------------------
# Case tables. A frame spec is { op, payload, fin, rsv } (TXT, BIN, CONT, PING, PONG, CLOSE, fr);
# a stage is a list of specs and raw byte strings sent together; { wait => 'close' } and
# { sleep => s } sit between stages.

my @CASES;
my %FAMILY;    # family => { cases, runs, fail }

# Adds a case. Fields: fam, sec, name, stages (or frames), close (expected code: a number or
# 'none' for an empty close; absent for a valid exchange, which the test ends with close 1000),
# echo/pongs (expected; derived from the frames for valid exchanges), routes, modes, secs.
sub add_case {
  my (%c) = @_;
  $c{stages} //= [$c{frames}];
  my (@msgs, @pongs, $cur, $curop, $sent, $bin);
  ($sent, $bin) = ('', '');
  for my $stage (@{ $c{stages} }) {
    next unless ref $stage eq 'ARRAY';
    for my $f (@$stage) {
      next unless ref $f;
      if ($f->{op} <= 2) {
        $sent .= $f->{payload};
        if ($f->{op}) { $curop = $f->{op}; $cur = '' }
        $cur .= $f->{payload} if defined $cur;
        $bin .= $f->{payload} if ($curop // 0) == 2;
        if ($f->{fin} && defined $cur) { push @msgs, [$curop, $cur]; undef $cur }
      } elsif ($f->{op} == 9) {
        push @pongs, $f->{payload};
      }
    }
  }
  $c{sent} //= $sent;
  if (!defined $c{close}) {
    $c{echo} //= \@msgs;
    $c{pongs} //= \@pongs;
  }
  $c{echo} //= [];
  $c{pongs} //= [];
  $c{routes} //= [@ALL_ROUTES];
  # Binary data that is not UTF-8 would come back from the backend as bytes a text route
  # rejects (1011): such cases do not run on the text route.
  $c{routes} = [grep { $_ ne 'text' } @{ $c{routes} }] unless $c{force_routes} || valid_utf8($bin);
  $c{modes} //= [0, 1];
  $FAMILY{ $c{fam} }{cases}++;
  push @CASES, \%c;
}

my $KOSME = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";    # κόσμε

# ---- Framing (5.2, 5.6): payload lengths across the 7-, 16- and 64-bit length forms ----
for my $len (0, 1, 125, 126, 127, 128, 1000, 4096, 16384, 65535, 65536, 65537, 262144, 1 << 20) {
  for my $op (1, 2) {
    my $data = $op == 1 ? utf8_text($len, $len) : bin_data($len, $len);
    add_case(fam => 'framing', sec => $len < 126 ? '5.2' : '5.2/5.6',
      name => ($op == 1 ? 'text' : 'binary') . " message of $len bytes",
      frames => [fr($op, $data)], modes => [0, 1, 997, 4096]);
  }
}
for my $op (1, 2) {
  add_case(fam => 'framing', sec => '5.2/5.6', name => ($op == 1 ? 'text' : 'binary') . ' message of 16 MiB in one frame',
    frames => [fr($op, $op == 1 ? utf8_text(16 << 20, 7) : bin_data(16 << 20, 7))], secs => 30);
}
add_case(fam => 'framing', sec => '5.6', name => 'text, binary, text messages of 300 bytes back to back',
  frames => [TXT(utf8_text(300, 1)), BIN(bin_data(300, 7) =~ tr/\x80-\xff/a-z/r), TXT(utf8_text(300, 2))],
  modes => [0, 1, 997, 4096]);

# ---- Pings and pongs (5.5.2, 5.5.3) ----
add_case(fam => 'ping', sec => '5.5.2', name => 'ping with an empty payload -> empty pong', frames => [PING('')]);
add_case(fam => 'ping', sec => '5.5.2', name => 'ping with a text payload -> same pong', frames => [PING('Hello, world!')]);
add_case(fam => 'ping', sec => '5.5.2', name => 'ping with a binary payload -> same pong',
  frames => [PING("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")]);
add_case(fam => 'ping', sec => '5.5.2', name => 'ping with a 125-byte binary payload -> same pong',
  frames => [PING(bin_data(125, 3))]);
add_case(fam => 'ping', sec => '5.5', name => 'ping with a 126-byte payload -> 1002, no pong',
  frames => [PING('x' x 126)], close => 1002);
{
  my @cut = frame_cut(PING(bin_data(125, 9)), map { $_ * 10 } 1 .. 12);
  add_case(fam => 'ping', sec => '5.5.2', name => '125-byte ping sent in 13 pieces with pauses -> pong',
    stages => [map { ([$_], { sleep => 0.01 }) } @cut], pongs => [bin_data(125, 9)], echo => []);
}
add_case(fam => 'ping', sec => '5.5.2', name => '10 pings in a row -> 10 pongs in order',
  frames => [map { PING("payload-$_") } 0 .. 9]);
add_case(fam => 'ping', sec => '5.5.3', name => 'unsolicited empty pong is ignored',
  frames => [PONG(''), TXT('after the pong')]);
add_case(fam => 'ping', sec => '5.5.3', name => 'unsolicited pong with a payload is ignored',
  frames => [PONG('unsolicited pong payload'), TXT('after')]);
add_case(fam => 'ping', sec => '5.5.3', name => 'pong with a payload, then ping -> exactly one pong',
  frames => [PONG('unsolicited'), PING('solicited')]);
add_case(fam => 'ping', sec => '5.5', name => 'pong with a 126-byte payload -> 1002',
  frames => [PONG('y' x 126)], close => 1002);
add_case(fam => 'ping', sec => '5.5.2', name => 'pings between data messages are answered in place',
  frames => [TXT('one'), PING('p1'), BIN('two'), PING('p2'), TXT('three')]);

# ---- Reserved bits (5.2): no extension is negotiated, so any RSV bit fails with 1002 ----
for my $rsv (1 .. 7) {
  add_case(fam => 'rsv', sec => '5.2', name => "RSV=$rsv on a text frame -> 1002",
    frames => [TXT('Hello', rsv => $rsv)], close => 1002);
  add_case(fam => 'rsv', sec => '5.2', name => "RSV=$rsv on a binary frame -> 1002",
    frames => [BIN("\x00\xff\xfe\xfd", rsv => $rsv)], close => 1002);
  add_case(fam => 'rsv', sec => '5.2', name => "RSV=$rsv on a ping -> 1002, no pong",
    frames => [PING('Hello', rsv => $rsv)], close => 1002);
  add_case(fam => 'rsv', sec => '5.2', name => "RSV=$rsv on a close -> 1002",
    frames => [CLOSE(pack('n', 1000), rsv => $rsv)], close => 1002);
  add_case(fam => 'rsv', sec => '5.2', name => "RSV=$rsv on a continuation frame -> 1002",
    frames => [TXT('Hel', fin => 0), CONT('lo', rsv => $rsv)], close => 1002);
  add_case(fam => 'rsv', sec => '5.2', name => "text, then RSV=$rsv on a text frame, then ping -> echo, 1002, no pong",
    frames => [TXT('Hello'), TXT('Hello', rsv => $rsv), PING('')], close => 1002, echo => [[1, 'Hello']]);
}

# ---- Opcodes (5.2): reserved non-control 3-7 and control 0xB-0xF ----
for my $op (3 .. 7, 0xB .. 0xF) {
  my $x = sprintf('0x%X', $op);
  add_case(fam => 'opcode', sec => '5.2', name => "reserved opcode $x, empty -> 1002",
    frames => [fr($op, '')], close => 1002);
  add_case(fam => 'opcode', sec => '5.2', name => "reserved opcode $x with a payload -> 1002",
    frames => [fr($op, 'reserved opcode payload')], close => 1002);
  add_case(fam => 'opcode', sec => '5.2', name => "text, reserved opcode $x, ping -> echo, 1002, no pong",
    frames => [TXT('Hello'), fr($op, 'x'), PING('')], close => 1002, echo => [[1, 'Hello']]);
  add_case(fam => 'opcode', sec => '5.2', name => "reserved opcode $x inside a fragmented message -> 1002",
    frames => [TXT('frag', fin => 0), fr($op, 'x'), CONT('ment')], close => 1002);
}

# ---- Fragmentation (5.4) ----
add_case(fam => 'frag', sec => '5.4', name => 'text message in 2 fragments',
  frames => [TXT('fragment1', fin => 0), CONT('fragment2')]);
add_case(fam => 'frag', sec => '5.4', name => 'binary message in 2 fragments',
  frames => [BIN("\x00\x01fragment1", fin => 0), CONT("fragment2\x7f")]);
add_case(fam => 'frag', sec => '5.4', name => 'text message in 2 fragments with a pause between them',
  stages => [[TXT('fragment1', fin => 0)], { sleep => 0.05 }, [CONT('fragment2')]]);
for my $op (1, 2) {
  my $k = $op == 1 ? 'text' : 'binary';
  add_case(fam => 'frag', sec => '5.4', name => "$k message with an empty first fragment",
    frames => [fr($op, '', fin => 0), CONT('payload')]);
  add_case(fam => 'frag', sec => '5.4', name => "$k message with an empty middle fragment",
    frames => [fr($op, 'pay', fin => 0), CONT('', fin => 0), CONT('load')]);
  add_case(fam => 'frag', sec => '5.4', name => "$k message with an empty last fragment",
    frames => [fr($op, 'payload', fin => 0), CONT('')]);
  add_case(fam => 'frag', sec => '5.4', name => "$k message of 3 empty fragments",
    frames => [fr($op, '', fin => 0), CONT('', fin => 0), CONT('')]);
  add_case(fam => 'frag', sec => '5.4', name => "1 KiB $k message in 1-byte fragments",
    frames => do {
      my $d = $op == 1 ? utf8_text(1024, 5) : bin_data(1024, 5);
      [fr($op, substr($d, 0, 1), fin => 0), (map { CONT(substr($d, $_, 1), fin => 0) } 1 .. 1022), CONT(substr($d, 1023, 1))];
    });
}
add_case(fam => 'frag', sec => '5.4', name => '64 KiB text message in fragments of 1300 bytes',
  frames => do {
    my $d = utf8_text(65536, 13);
    [map { fr($_ ? 0 : 1, substr($d, $_, 1300), fin => $_ + 1300 >= 65536) } grep { $_ % 1300 == 0 } 0 .. 65535];
  });
add_case(fam => 'frag', sec => '5.4', name => 'ping between 2 text fragments -> pong, message intact',
  frames => [TXT('fragment1', fin => 0), PING('ping payload'), CONT('fragment2')]);
add_case(fam => 'frag', sec => '5.4', name => 'text in 5 fragments with 2 pings between them, with pauses',
  stages => [[TXT('fragment1', fin => 0)], { sleep => 0.02 }, [CONT('fragment2', fin => 0), PING('pongme 1!')],
    { sleep => 0.02 }, [CONT('fragment3', fin => 0)], [PING('pongme 2!'), CONT('fragment4', fin => 0)],
    { sleep => 0.02 }, [CONT('fragment5')]]);
add_case(fam => 'frag', sec => '5.4', name => 'pong between fragments is ignored, message intact',
  frames => [BIN('frag', fin => 0), PONG('x'), CONT('ment')]);
add_case(fam => 'frag', sec => '5.4/5.5', name => 'fragmented ping -> 1002',
  frames => [PING('fragment1', fin => 0), CONT('fragment2')], close => 1002);
add_case(fam => 'frag', sec => '5.4/5.5', name => 'fragmented pong -> 1002',
  frames => [PONG('fragment1', fin => 0), CONT('fragment2')], close => 1002);
add_case(fam => 'frag', sec => '5.4/5.5', name => 'fragmented close -> 1002',
  frames => [CLOSE(pack('n', 1000), fin => 0), CONT('bye')], close => 1002);
add_case(fam => 'frag', sec => '5.4', name => 'continuation FIN=1 with nothing to continue, then text -> 1002',
  frames => [CONT('non-continuation payload'), TXT('Hello, world!')], close => 1002);
add_case(fam => 'frag', sec => '5.4', name => 'continuation FIN=0 with nothing to continue, then text -> 1002',
  frames => [CONT('non-continuation payload', fin => 0), TXT('Hello, world!')], close => 1002);
add_case(fam => 'frag', sec => '5.4', name => 'text in 2 fragments, then a continuation with nothing to continue -> echo, 1002',
  frames => [TXT('fragment1', fin => 0), CONT('fragment2'), CONT('fragment3', fin => 0), TXT('fragment4')],
  close => 1002, echo => [[1, 'fragment1fragment2']]);
add_case(fam => 'frag', sec => '5.4', name => 'text start, then text (not continuation) -> 1002',
  frames => [TXT('fragment1', fin => 0), TXT('fragment2')], close => 1002);
add_case(fam => 'frag', sec => '5.4', name => 'text start, then binary -> 1002',
  frames => [TXT('fragment1', fin => 0), BIN('fragment2')], close => 1002);
add_case(fam => 'frag', sec => '5.4', name => 'binary start, then text FIN=0 -> 1002',
  frames => [BIN('fragment1', fin => 0), TXT('fragment2', fin => 0), CONT('x')], close => 1002);
# 4 MiB messages in fragments of 64 KiB, 1 MiB and 4 MiB, and with the first 64 KiB in 1-byte
# fragments (then the rest in one).
for my $op (1, 2) {
  my $k = $op == 1 ? 'text' : 'binary';
  my $d = $op == 1 ? utf8_text(4 << 20, 11) : bin_data(4 << 20, 11);
  for my $fs (64 << 10, 1 << 20, 4 << 20) {
    my @f;
    for (my $o = 0; $o < length $d; $o += $fs) {
      push @f, fr($o ? 0 : $op, substr($d, $o, $fs), fin => $o + $fs >= length $d);
    }
    add_case(fam => 'frag', sec => '5.4', name => "4 MiB $k message in fragments of " . ($fs >> 10) . ' KiB',
      frames => \@f, secs => 30);
  }
  my @f64;
  for (my $o = 0; $o < length $d; $o += 64) { push @f64, fr($o ? 0 : $op, substr($d, $o, 64), fin => $o + 64 >= length $d) }
  add_case(fam => 'frag', sec => '5.4', name => "4 MiB $k message in 65,536 fragments of 64 bytes", frames => \@f64, secs => 30);
  my @f = (fr($op, substr($d, 0, 1), fin => 0), map({ CONT(substr($d, $_, 1), fin => 0) } 1 .. 65535),
    CONT(substr($d, 65536)));
  add_case(fam => 'frag', sec => '5.4', name => "4 MiB $k message, first 64 KiB in 1-byte fragments",
    frames => \@f, secs => 30);
}

# ---- UTF-8 (8.1, 5.6) ----
my @VALID = (
  ['κόσμε', $KOSME], ['Hello-µ@ßöäüàá-UTF-8!!', "Hello-\xc2\xb5\@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"],
  ['U+0080 and U+07FF', "\xc2\x80\xdf\xbf"], ['U+0800 and U+D7FF', "\xe0\xa0\x80\xed\x9f\xbf"],
  ['U+E000, U+FFFD, U+FFFE, U+FFFF', "\xee\x80\x80\xef\xbf\xbd\xef\xbf\xbe\xef\xbf\xbf"],
  ['4-byte U+10000 and U+1F600', "\xf0\x90\x80\x80\xf0\x9f\x98\x80"], ['U+10FFFF', "\xf4\x8f\xbf\xbf"],
  ['U+FFFF alone', "\xef\xbf\xbf"], ['empty', ''],
  ['noncharacters U+FDD0, U+1FFFE, U+10FFFE', "\xef\xb7\x90\xf0\x9f\xbf\xbe\xf4\x8f\xbf\xbe"],
);
for my $v (@VALID) {
  my ($label, $t) = @$v;
  add_case(fam => 'utf8', sec => '8.1', name => "valid text ($label) in one frame", frames => [TXT($t)]);
  next if length $t < 2;
  add_case(fam => 'utf8', sec => '5.6/8.1', name => "valid text ($label) split in 2 fragments at every byte boundary",
    frames => [map { (TXT(substr($t, 0, $_), fin => 0), CONT(substr($t, $_))) } 1 .. length($t) - 1]);
  add_case(fam => 'utf8', sec => '5.6/8.1', name => "valid text ($label) in 1-byte fragments",
    frames => [TXT(substr($t, 0, 1), fin => 0), (map { CONT(substr($t, $_, 1), fin => 0) } 1 .. length($t) - 2),
      CONT(substr($t, -1))]);
}
my @INVALID = (
  ['lone continuation 0x80', "\x80"], ['lone continuation 0xBF', "\xbf"],
  ['continuations 0x80 0xBF 0x80', "\x80\xbf\x80"], ['κόσμε then lone 0x80', "$KOSME\x80"],
  ['overlong C0 AF', "\xc0\xaf"], ['overlong C1 BF', "\xc1\xbf"], ['overlong E0 80 AF', "\xe0\x80\xaf"],
  ['overlong E0 9F BF', "\xe0\x9f\xbf"], ['overlong F0 80 80 AF', "\xf0\x80\x80\xaf"],
  ['overlong F0 8F BF BF', "\xf0\x8f\xbf\xbf"], ['5-byte F8 88 80 80 80', "\xf8\x88\x80\x80\x80"],
  ['6-byte FC 84 80 80 80 80', "\xfc\x84\x80\x80\x80\x80"],
  ['surrogate ED A0 80', "\xed\xa0\x80"], ['surrogate ED AD BF', "\xed\xad\xbf"], ['surrogate ED B0 80', "\xed\xb0\x80"],
  ['surrogate ED BF BF', "\xed\xbf\xbf"], ['surrogate pair ED A0 80 ED B0 80', "\xed\xa0\x80\xed\xb0\x80"],
  ['above U+10FFFF: F4 90 80 80', "\xf4\x90\x80\x80"], ['F5 80 80 80', "\xf5\x80\x80\x80"], ['F7 BF BF BF', "\xf7\xbf\xbf\xbf"],
  ['FE', "\xfe"], ['FF', "\xff"], ['FE FE FF FF', "\xfe\xfe\xff\xff"],
  ['lonely start C2 then space', "\xc2 "], ['lonely start E0 then space', "\xe0 "], ['lonely start F0 then space', "\xf0 "],
  ['truncated CE at the end', "abc\xce"], ['truncated E2 82 at the end', "abc\xe2\x82"],
  ['truncated F0 9F 98 at the end', "abc\xf0\x9f\x98"],
  ['κόσμε ED A0 80 "edited"', "$KOSME\xed\xa0\x80edited"],
  ['overlong NUL C0 80', "\xc0\x80"], ['overlong NUL E0 80 80', "\xe0\x80\x80"],
  ['incomplete sequences concatenated', "\xc0\xe0\x80\xf0\x80\x80\xdf\xef\xbf\xf7\xbf\xbf"],
);
for my $v (@INVALID) {
  my ($label, $t) = @$v;
  add_case(fam => 'utf8', sec => '8.1', name => "invalid text ($label) in one frame -> 1007",
    frames => [TXT($t)], close => 1007);
  add_case(fam => 'utf8', sec => '8.1', name => "invalid text ($label) in 1-byte fragments -> 1007",
    frames => [TXT(substr($t, 0, 1), fin => length($t) == 1), (map { CONT(substr($t, $_, 1), fin => $_ == length($t) - 1) } 1 .. length($t) - 1)],
    close => 1007);
  add_case(fam => 'utf8', sec => '8.1', name => "valid text, then invalid text ($label) -> echo, 1007",
    frames => [TXT('valid'), TXT($t), PING('')], close => 1007, echo => [[1, 'valid']]);
}
# A text route sends nothing that is not UTF-8: binary bytes that are not UTF-8 come back from the
# echo backend and wsgate closes with 1011 (wsgate(8): "anything else closes with 1011").
add_case(fam => 'utf8', sec => '8.1', name => 'type = text: a binary message of bytes that are not UTF-8 -> 1011, no frame sent',
  frames => [BIN("\xfe" x 100)], close => 1011, routes => ['text'], force_routes => 1);
add_case(fam => 'utf8', sec => '8.1', name => 'type = text: binary bytes ending inside a character are held back until it completes',
  stages => [[BIN("abc\xe2\x82")], { sleep => 0.1 }, [BIN("\xac def")]], routes => ['text'], force_routes => 1);
# Fail fast: the close 1007 must come as soon as the bad bytes are in, before the message ends.
for my $bad (["\xed\xa0\x80", 'ED A0 80'], ["\xf4\x90\x80\x80", 'F4 90 80 80']) {
  my ($x, $label) = @$bad;
  add_case(fam => 'utf8', sec => '8.1', name => "fail fast: κόσμε | $label | edited in 3 fragments -> 1007 before the 3rd is sent",
    stages => [[TXT($KOSME, fin => 0), CONT($x, fin => 0)], { wait => 'close' }, [CONT('edited')]], close => 1007);
  add_case(fam => 'utf8', sec => '8.1', name => "fail fast: κόσμε $label edited as one frame in 3 writes -> 1007 before the 3rd",
    stages => do {
      my @c = frame_cut(TXT("$KOSME${x}edited"), length $KOSME, length($KOSME) + length $x);
      [[$c[0]], [$c[1]], { wait => 'close' }, [$c[2]]];
    }, close => 1007, sent => "$KOSME${x}edited");
}
add_case(fam => 'utf8', sec => '8.1', name => 'fail fast: κόσμε F4 | 90 | 80 80 edited in 3 fragments -> 1007 before the 3rd',
  stages => [[TXT("$KOSME\xf4", fin => 0), CONT("\x90", fin => 0)], { wait => 'close' }, [CONT("\x80\x80edited")]],
  close => 1007);
add_case(fam => 'utf8', sec => '8.1', name => 'fail fast: κόσμε F4 90 80 80 edited as one frame cut inside the sequence -> 1007 before the rest',
  stages => do {
    my @c = frame_cut(TXT("$KOSME\xf4\x90\x80\x80edited"), length($KOSME) + 1, length($KOSME) + 2);
    [[$c[0]], [$c[1]], { wait => 'close' }, [$c[2]]];
  }, close => 1007, sent => "$KOSME\xf4\x90\x80\x80edited");
add_case(fam => 'utf8', sec => '8.1', name => 'fail fast: 64 KiB frame with an invalid byte near its start -> 1007 before the rest',
  stages => do {
    my $p = 'ok' . "\xff" . ('a' x 65533);
    my @c = frame_cut(TXT($p), 16);
    [[$c[0]], { wait => 'close' }, [$c[1]]];
  }, close => 1007, sent => 'ok' . "\xff" . ('a' x 65533));

# ---- Close handling (7.4, 5.5.1) ----
add_case(fam => 'close', sec => '5.5.1', name => 'close with no payload -> empty close', frames => [CLOSE('')], close => 'none');
add_case(fam => 'close', sec => '5.5.1', name => 'close with a 1-byte payload -> 1002', frames => [CLOSE('0')], close => 1002);
add_case(fam => 'close', sec => '5.5.1', name => 'close 1000 with no reason -> 1000', frames => [CLOSE(pack('n', 1000))], close => 1000);
add_case(fam => 'close', sec => '5.5.1', name => 'close 1000 with reason "Hello World!" -> 1000',
  frames => [CLOSE(pack('n', 1000) . 'Hello World!')], close => 1000);
add_case(fam => 'close', sec => '5.5.1', name => 'close 1000 with a UTF-8 reason (κόσμε) -> 1000',
  frames => [CLOSE(pack('n', 1000) . $KOSME)], close => 1000);
add_case(fam => 'close', sec => '5.5', name => 'close 1000 with a 123-byte reason (125-byte payload) -> 1000',
  frames => [CLOSE(pack('n', 1000) . ('*' x 123))], close => 1000);
add_case(fam => 'close', sec => '5.5', name => 'close 1000 with a 124-byte reason (126-byte payload) -> 1002',
  frames => [CLOSE(pack('n', 1000) . ('*' x 124))], close => 1002);
add_case(fam => 'close', sec => '5.5.1/8.1', name => 'close reason with invalid UTF-8 -> 1007',
  frames => [CLOSE(pack('n', 1000) . "$KOSME\xed\xa0\x80edited")], close => 1007);
add_case(fam => 'close', sec => '5.5.1/8.1', name => 'close reason ending inside a UTF-8 sequence -> 1007',
  frames => [CLOSE(pack('n', 1000) . "bye\xce")], close => 1007);
for my $code (1000 .. 1003, 1007 .. 1014, 3000, 3999, 4000, 4999) {
  add_case(fam => 'close', sec => '7.4.1', name => "valid close code $code -> echoed",
    frames => [CLOSE(pack('n', $code) . 'reason')], close => $code);
}
for my $code (0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535) {
  add_case(fam => 'close', sec => '7.4.1', name => "invalid close code $code -> 1002",
    frames => [CLOSE(pack('n', $code) . 'reason')], close => 1002);
}
add_case(fam => 'close', sec => '5.5.1', name => 'text, then close -> echo, then close 1000',
  frames => [TXT('Hello World!'), CLOSE(pack('n', 1000))], close => 1000, echo => [[1, 'Hello World!']]);
add_case(fam => 'close', sec => '5.5.1', name => 'close, then close again -> a single close',
  frames => [CLOSE(pack('n', 1000)), CLOSE(pack('n', 1001))], close => 1000);
add_case(fam => 'close', sec => '5.5.1', name => 'close, then ping -> no pong',
  frames => [CLOSE(pack('n', 1000)), PING('after close')], close => 1000);
add_case(fam => 'close', sec => '5.5.1', name => 'close, then text -> data after the close is ignored',
  frames => [CLOSE(pack('n', 1000)), TXT('after close')], close => 1000);
add_case(fam => 'close', sec => '5.5.1', name => 'text fragment, close, last fragment -> close, no message',
  frames => [TXT('fragment1', fin => 0), CLOSE(pack('n', 1000)), CONT('fragment2')], close => 1000);
add_case(fam => 'close', sec => '5.5.1', name => '256 KiB text, close, ping -> echo, close 1000, no pong',
  frames => [TXT(utf8_text(256 << 10, 4)), CLOSE(pack('n', 1000)), PING('after close')], close => 1000,
  echo => [[1, utf8_text(256 << 10, 4)]]);

# ---------------------------------------------------------------------------------------------

sub mode_label {
  my ($m, $total) = @_;
  return 'one write' if $m == 0;
  return $total > BYTEWISE_ALL ? 'bytewise, first ' . (BYTEWISE_HEAD >> 10) . ' KiB' : 'bytewise' if $m == 1;
  return "writes of $m bytes";
}

sub msgs_show { join ', ', map { "$_->[0]:" . show($_->[1]) } @{ $_[0] } }

sub run_case {
  my ($c, $route, $mode) = @_;
  my $R = $ROUTE{$route};
  my $st = conn_open($route);
  my $total = 0;
  my @steps;
  for my $stage (@{ $c->{stages} }) {
    if (ref $stage eq 'ARRAY') {
      my $b = join '', map { ref $_ ? frame_bytes($_) : $_ } @$stage;
      $total += length $b;
      push @steps, { send => $b };
    } else {
      push @steps, $stage;
    }
  }
  my $name = "RFC 6455 $c->{sec} [$R->{label}, " . mode_label($mode, $total) . "]: $c->{name}";
  my @why;
  my $want_bytes = join '', map { $_->[1] } @{ $c->{echo} };
  my $secs = $c->{secs} // 5;
  # A valid exchange ends with the client's close 1000 once everything came back (a tcp:// route
  # would drop backend data still on its way after the close).
  unless (defined $c->{close}) {
    my ($nm, $np) = (scalar @{ $c->{echo} }, scalar @{ $c->{pongs} });
    push @steps, { wait => $R->{tcp}
        ? sub { $_[0]{data_bytes} >= length($want_bytes) && @{ $_[0]{pongs} } >= $np }
        : sub { $_[0]{nmsgs} >= $nm && @{ $_[0]{pongs} } >= $np }, what => 'the echo' },
      { send => client_frame(8, pack('n', 1000)) };
  }
  for my $step (@steps) {
    if (exists $step->{send}) {
      my $err = send_data($st, $step->{send}, $mode, $secs + 20, $total > BYTEWISE_ALL ? BYTEWISE_HEAD : $total);
      # Writes may fail once wsgate has failed the connection; that is not a fault.
      push @why, $err if $err && !$st->{close} && !$st->{eof};
    } elsif (exists $step->{sleep}) {
      sleep $step->{sleep};
      read_some($st, 0);
    } elsif (ref $step->{wait} eq 'CODE') {
      wait_until($st, $step->{wait}, $secs) or push @why, "timed out after ${secs}s waiting for $step->{what}";
    } elsif ($step->{wait} eq 'close') {
      wait_until($st, sub { $_[0]{close} }, 5)
        or push @why, 'no close frame before the rest of the message was sent (not fail-fast)';
    }
    last if @why;
  }
  my $want_close = $c->{close} // 1000;
  wait_until($st, sub { $_[0]{close} && $_[0]{eof} }, $secs);
  my $got_close = $st->{close} ? $st->{close}[0] : 'no close frame';
  push @why, "close: got $got_close" . ($st->{close} && length $st->{close}[1] ? " ($st->{close}[1])" : '')
    . ", want $want_close" unless $got_close eq $want_close;
  push @why, 'RFC 6455 7.1.1: wsgate did not close TCP after its close frame' if $st->{close} && !$st->{eof};
  push @why, "TCP reset ($st->{reset}) instead of a clean close" if $st->{reset};
  push @why, @{ $st->{bad} };
  push @why, 'wsgate sent pings: ' . join(',', map { show($_) } @{ $st->{pings} }) if @{ $st->{pings} };
  my ($gp, $wp) = (join(',', map { show($_) } @{ $st->{pongs} }), join(',', map { show($_) } @{ $c->{pongs} }));
  push @why, "pongs: got [$gp], want [$wp]" unless $gp eq $wp;
  if ($R->{tcp}) {
    my @ops = grep { $_ != $R->{op} } keys %{ $st->{frame_ops} };
    push @why, "data frames with opcode @ops on a type = " . ($R->{op} == 1 ? 'text' : 'binary') . ' route' if @ops;
    if (!defined $c->{close}) {
      push @why, 'payload bytes: got ' . show($st->{data}) . ', want ' . show($want_bytes) unless $st->{data} eq $want_bytes;
    } else {
      push @why, 'payload bytes ' . show($st->{data}) . ' are not a prefix of what was sent ' . show($c->{sent})
        unless substr($c->{sent}, 0, length $st->{data}) eq $st->{data};
    }
  } else {
    my $ok = @{ $st->{msgs} } == @{ $c->{echo} };
    for my $i (0 .. $#{ $c->{echo} }) {
      last unless $ok;
      my ($g, $w) = ($st->{msgs}[$i], $c->{echo}[$i]);
      $ok = $g->[0] == $w->[0] && $g->[1] eq $w->[1];
    }
    push @why, 'messages: got [' . msgs_show($st->{msgs}) . '], want [' . msgs_show($c->{echo}) . ']' unless $ok;
  }
  close $st->{sock};
  my $F = $FAMILY{ $c->{fam} };
  $F->{runs}++;
  ok(!@why, $name) or do { $F->{fail}++; diag join "\n", @why };
}

# CONFORMANCE_FAMILIES=framing,utf8 runs only those families (limits: 26-conformance-limits.t).
my %ONLY = map { $_ => 1 } split /,/, $ENV{CONFORMANCE_FAMILIES} // '';
for my $c (@CASES) {
  next if %ONLY && !$ONLY{ $c->{fam} };
  my $t0 = time;
  for my $route (@{ $c->{routes} }) {
    for my $mode (@{ $c->{modes} }) {
      next if eval { run_case($c, $route, $mode); 1 };
      fail("RFC 6455 $c->{sec} [$ROUTE{$route}{label}, " . mode_label($mode, 0) . "]: $c->{name}");
      diag "died: $@";
      $FAMILY{ $c->{fam} }{fail}++;
    }
  }
  $FAMILY{ $c->{fam} }{secs} += time - $t0;
  diag sprintf("%.2f s: %s", time - $t0, $c->{name}) if $ENV{CONFORMANCE_TIMES};
}

ok(kill(0, $gw->pid), 'wsgate is still running after every case');

family_summary(\%FAMILY, $T_START);

done_testing;
