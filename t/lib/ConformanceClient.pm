# The client side of the RFC 6455 conformance tests (t/25-conformance.t, t/26-conformance-limits.t):
# a gateway with an echo route and tcp:// text and binary routes, connections that write in a
# chosen chunk size while every frame wsgate sends is read and checked (RFC 6455 5.x), UTF-8
# checks and test data, and the frame builders of the case tables.
package ConformanceClient;

use strict;
use warnings;
use Encode ();
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use Exporter 'import';
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Time::HiRes qw(time);
use WsgateTest qw(wsgate tcp_echo_server raw_connect raw_upgrade read_http_response client_frame rss_kib);

our @EXPORT = qw(BYTEWISE_ALL BYTEWISE_HEAD %ROUTE @ALL_ROUTES conformance_gateway valid_utf8
  utf8_text bin_data show conn_open read_some wait_until send_data rss_watch rss_unwatch
  fr TXT BIN CONT PING PONG CLOSE frame_bytes frame_cut family_summary);

our %ROUTE = (
  echo => { path => '/echo', label => 'echo' },
  text => { path => '/text', label => 'tcp text', tcp => 1, op => 1 },
  bin  => { path => '/bin', label => 'tcp binary', tcp => 1, op => 2 },
);
our @ALL_ROUTES = qw(echo text bin);

# Byte-by-byte sending costs about 5 us a byte: a case of up to BYTEWISE_ALL bytes (every frame
# of up to 64 KiB + 1 of payload) goes wholly byte by byte; a larger one only its first
# BYTEWISE_HEAD bytes, then 64 KiB writes (the test name says so).
use constant BYTEWISE_ALL => 70_000;
use constant BYTEWISE_HEAD => 4096;

my ($GW, $BACKEND);

# Starts the gateway the cases run against (and its tcp:// echo backend); returns it.
sub conformance_gateway {
  $BACKEND = tcp_echo_server();
  my $tcp = 'tcp://127.0.0.1:' . $BACKEND->port;
  $GW = wsgate(<<"INI");
[route echo]
path = /echo
backend = echo
max_message_size = 32M

[route text]
path = /text
backend = $tcp
type = text
max_message_size = 32M

[route bin]
path = /bin
backend = $tcp
type = binary
max_message_size = 32M
INI
  return $GW;
}

# UTF-8 (RFC 3629), checked by deleting every well-formed character: anything left is invalid.
my $U8 = qr/[\x00-\x7F]+|[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}
  |\xED[\x80-\x9F][\x80-\xBF]|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}|\xF4[\x80-\x8F][\x80-\xBF]{2}/x;

# Encode's strict UTF-8 is fast but also refuses noncharacters (U+FFFE, U+FFFF, ...), which
# RFC 3629 allows: what it refuses is decided by the regex.
sub valid_utf8 {
  return 1 if eval { Encode::decode('UTF-8', $_[0], Encode::FB_CROAK | Encode::LEAVE_SRC); 1 };
  (my $t = $_[0]) =~ s/$U8//g;
  return $t eq '';
}

# Valid UTF-8 of exactly $len bytes mixing 1- to 4-byte characters, so that any cut of a stream
# of it lands inside characters somewhere.
sub utf8_text {
  my ($len, $seed) = @_;
  my $unit = "Hello-\xc2\xb5\@\xc3\x9f\xc3\xb6\xe2\x82\xac\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
    . "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbd\xef\xbf\xbd-" . chr(65 + ($seed // 0) % 26);
  my $t = $unit x int($len / length $unit);
  return $t . ('x' x ($len - length $t));
}

# $len bytes covering every byte value, varied by $seed.
sub bin_data {
  my ($len, $seed) = @_;
  my $u = join '', map { chr(($_ * 167 + ($seed // 0)) & 0xff) } 0 .. 4095;
  return substr($u x (int($len / 4096) + 1), 0, $len);
}

# Printable form of some bytes for diagnostics.
sub show {
  my ($b) = @_;
  return 'undef' unless defined $b;
  my $n = length $b;
  my $s = substr($b, 0, 48) =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ger;
  return $n > 48 ? "\"$s\"... ($n bytes)" : "\"$s\"";
}

# ---------------------------------------------------------------------------------------------
# The client side of a connection: non-blocking writes in a chosen chunk size while the frames
# wsgate sends are read and checked concurrently.

sub conn_open {
  my ($route) = @_;
  my $s = raw_connect($GW->port);
  raw_upgrade($s, $ROUTE{$route}{path});
  my $r = read_http_response($s, 5);
  die "no 101 on $ROUTE{$route}{path}: " . ($r ? $r->{line} : 'nothing') unless $r && $r->{status} == 101;
  setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1) or die "TCP_NODELAY: $!";
  $s->blocking(0);
  my $st = {
    sock => $s, buf => $r->{rest}, msgs => [], nmsgs => 0, curop => undef, cur => '',
    pongs => [], pings => [], close => undef, eof => 0, reset => 0, bad => [],
    data_bytes => 0, data => '', frame_ops => {},
    concat => $ROUTE{$route}{tcp}, frame_utf8 => ($ROUTE{$route}{op} // 0) == 1,
  };
  drain_frames($st);
  return $st;
}

sub bad { my ($st, $why) = @_; push @{ $st->{bad} }, $why if @{ $st->{bad} } < 10 }

# One server frame.
sub on_frame {
  my ($st, $b0, $masked, $payload) = @_;
  my ($fin, $rsv, $op) = ($b0 >> 7, ($b0 >> 4) & 7, $b0 & 15);
  bad($st, 'RFC 6455 5.1: a server frame is masked') if $masked;
  bad($st, "RFC 6455 5.2: a server frame has RSV=$rsv") if $rsv;
  if ($st->{close}) { bad($st, "RFC 6455 5.5.1: a frame (opcode $op) after wsgate's close frame"); return }
  if ($op >= 8) {
    bad($st, "RFC 6455 5.5: control frame (opcode $op) with FIN=0") unless $fin;
    bad($st, "RFC 6455 5.5: control frame of " . length($payload) . ' bytes') if length $payload > 125;
    if ($op == 8) {
      my $n = length $payload;
      if ($n == 0) { $st->{close} = ['none', ''] }
      elsif ($n == 1) { bad($st, 'RFC 6455 5.5.1: wsgate sent a 1-byte close payload'); $st->{close} = ['1 byte', ''] }
      else {
        my $reason = substr($payload, 2);
        bad($st, 'RFC 6455 5.5.1: close reason is not UTF-8: ' . show($reason)) unless valid_utf8($reason);
        $st->{close} = [unpack('n', $payload), $reason];
      }
    } elsif ($op == 9) {
      push @{ $st->{pings} }, $payload;
    } elsif ($op == 10) {
      push @{ $st->{pongs} }, $payload;
    } else {
      bad($st, "RFC 6455 5.2: wsgate sent reserved control opcode $op");
    }
    return;
  }
  if ($op == 0) {
    unless (defined $st->{curop}) { bad($st, 'RFC 6455 5.4: continuation frame with no message started'); return }
  } elsif ($op == 1 || $op == 2) {
    bad($st, 'RFC 6455 5.4: new data frame inside a fragmented message') if defined $st->{curop};
    $st->{curop} = $op;
    $st->{cur} = '';
    $st->{frame_ops}{$op}++;
  } else {
    bad($st, "RFC 6455 5.2: wsgate sent reserved data opcode $op");
    return;
  }
  add_payload($st, $payload, $fin);
}

sub add_payload {
  my ($st, $payload, $fin) = @_;
  $st->{data_bytes} += length $payload;
  $st->{data} .= $payload if $st->{concat};
  bad($st, 'type = text: a text frame is not valid UTF-8 on its own: ' . show($payload))
    if $st->{frame_utf8} && $st->{curop} == 1 && !valid_utf8($payload);
  $st->{cur} .= $payload;
  return unless $fin;
  my $m = [$st->{curop}, $st->{cur}];
  $st->{curop} = undef;
  $st->{cur} = '';
  $st->{nmsgs}++;
  bad($st, 'RFC 6455 8.1: wsgate sent a text message that is not UTF-8: ' . show($m->[1]))
    if $m->[0] == 1 && !$st->{frame_utf8} && !valid_utf8($m->[1]);
  if ($st->{on_msg}) { $st->{on_msg}->($m) } else { push @{ $st->{msgs} }, $m }
}

# Parses every complete frame in the read buffer. Runs of 1-byte unfinished continuation frames
# (what the echo of 1-byte fragments looks like) are taken in one regex step.
sub drain_frames {
  my ($st) = @_;
  my $b = \$st->{buf};
  my $len = length $$b;
  my $p = 0;
  while ($len - $p >= 2) {
    if (defined $st->{curop} && !$st->{close} && substr($$b, $p, 2) eq "\x00\x01") {
      pos($$b) = $p;
      if ($$b =~ /\G((?:\x00\x01[\x00-\xff]){2,})/g) {
        my $run = $1;
        $p += length $run;
        add_payload($st, join('', unpack('(x2a)*', $run)), 0);
        next;
      }
    }
    my ($b0, $b1) = unpack('CC', substr($$b, $p, 2));
    my ($l, $off) = ($b1 & 0x7f, 2);
    if ($l == 126) {
      last if $len - $p < 4;
      ($l, $off) = (unpack('n', substr($$b, $p + 2, 2)), 4);
      bad($st, "RFC 6455 5.2: non-minimal 16-bit length $l") if $l < 126;
    } elsif ($l == 127) {
      last if $len - $p < 10;
      ($l, $off) = (unpack('Q>', substr($$b, $p + 2, 8)), 10);
      bad($st, "RFC 6455 5.2: non-minimal 64-bit length $l") if $l < 65536;
      if ($l > (64 << 20)) { bad($st, "absurd frame length $l"); $st->{eof} = 1; $p = $len; last }
    }
    my $masked = $b1 & 0x80;
    my $key = '';
    if ($masked) { last if $len - $p < $off + 4; $key = substr($$b, $p + $off, 4); $off += 4 }
    last if $len - $p < $off + $l;
    my $payload = substr($$b, $p + $off, $l);
    $payload ^= substr($key x (int($l / 4) + 1), 0, $l) if $masked;
    $p += $off + $l;
    on_frame($st, $b0, $masked, $payload);
  }
  substr($$b, 0, $p, '') if $p;
}

# While a limits case runs, wsgate's resident set size is sampled every 50 ms from here.
my %RSS = (pid => 0, peak => 0, at => 0);

# Samples the RSS of $pid from now on, from $kib.
sub rss_watch { my ($pid, $kib) = @_; %RSS = (pid => $pid, peak => $kib, at => 0) }

# Stops sampling; the highest RSS seen, in KiB.
sub rss_unwatch { $RSS{pid} = 0; return $RSS{peak} }

sub sample_rss {
  return unless $RSS{pid} && time - $RSS{at} >= 0.05;
  $RSS{at} = time;
  my $r = rss_kib($RSS{pid});
  $RSS{peak} = $r if $r > $RSS{peak};
}

# Reads what is there (waiting up to $secs for something); false once nothing more will come.
sub read_some {
  my ($st, $secs) = @_;
  sample_rss();
  return 0 if $st->{eof};
  my $s = $st->{sock};
  if ($secs > 0) {
    my $rin = '';
    vec($rin, fileno $s, 1) = 1;
    my $n = select(my $rout = $rin, undef, undef, $secs);
    return 1 if $n <= 0;
  }
  for (1 .. 8) {
    my $r = sysread($s, $st->{buf}, 4 << 20, length $st->{buf});
    if (!defined $r) {
      last if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
      $st->{eof} = 1;
      $st->{reset} = "$!";
      last;
    }
    if ($r == 0) { $st->{eof} = 1; last }
    last if $r < (1 << 20);
  }
  drain_frames($st);
  return !$st->{eof};
}

# Waits until $cond->($st) holds; false on timeout or EOF first.
sub wait_until {
  my ($st, $cond, $secs) = @_;
  my $deadline = time + $secs;
  until ($cond->($st)) {
    my $left = $deadline - time;
    return 0 if $left <= 0 || $st->{eof};
    read_some($st, $left > 0.5 ? 0.5 : $left);
  }
  return 1;
}

# Sends $src (a string, or a code ref returning the next piece and undef at the end) in writes
# of $chunk bytes (0: as large as the socket takes; 1: byte by byte for the first $bw bytes,
# then 64 KiB) while reading. Returns '' or what went wrong.
sub send_data {
  my ($st, $src, $chunk, $secs, $bw) = @_;
  $bw //= BYTEWISE_ALL;
  my $s = $st->{sock};
  my ($pending, $gen) = ref $src ? ('', $src) : ($src, undef);
  my ($sent, $since_read) = (0, 0);
  my $deadline = time + ($secs // 30);
  while (1) {
    if ($pending eq '') {
      last unless $gen;
      $pending = $gen->();
      last unless defined $pending;
      next;
    }
    my $n = !$chunk ? length $pending : $chunk == 1 && $sent >= $bw ? 65536 : $chunk;
    my $w = syswrite($s, $pending, $n);
    if (defined $w) {
      substr($pending, 0, $w, '');
      $sent += $w;
      $since_read += $w;
      if ($since_read >= (256 << 10)) { read_some($st, 0); $since_read = 0 }
      next;
    }
    return "write failed after $sent bytes: $!" unless $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
    return "send stalled after $sent bytes" if time > $deadline;
    # The socket is full: read while waiting for room, so that neither side blocks for good.
    my ($rin, $win) = ('', '');
    vec($rin, fileno $s, 1) = 1 unless $st->{eof};
    vec($win, fileno $s, 1) = 1;
    select(my $rout = $rin, my $wout = $win, undef, 0.5);
    read_some($st, 0) if vec($rout, fileno $s, 1);
    $since_read = 0;
  }
  read_some($st, 0);
  return '';
}

# ---- frame specs for the case tables: { op, payload, fin, rsv } ----

sub fr    { my ($op, $p, %o) = @_; return { op => $op, payload => $p // '', fin => $o{fin} // 1, rsv => $o{rsv} // 0 } }
sub TXT   { fr(1, @_) }
sub BIN   { fr(2, @_) }
sub CONT  { fr(0, @_) }
sub PING  { fr(9, @_) }
sub PONG  { fr(10, @_) }
sub CLOSE { fr(8, @_) }

sub frame_bytes { my ($f) = @_; client_frame($f->{op}, $f->{payload}, fin => $f->{fin}, rsv => $f->{rsv}) }

# One data frame's bytes cut at payload offsets, for a frame sent in several writes.
sub frame_cut {
  my ($f, @at) = @_;
  my $bytes = frame_bytes($f);
  my $h = length($bytes) - length($f->{payload});
  my @out;
  my $prev = 0;
  for my $a (map({ $h + $_ } @at), length $bytes) { push @out, substr($bytes, $prev, $a - $prev); $prev = $a }
  return @out;
}

# The table a conformance file ends with: cases, runs, failures and seconds per family.
sub family_summary {
  my ($family, $t_start) = @_;
  for my $f (sort keys %$family) {
    my $F = $family->{$f};
    diag sprintf('%-8s %3d cases, %4d runs, %3d failed, %6.2f s', $f, $F->{cases}, $F->{runs} // 0, $F->{fail} // 0, $F->{secs} // 0);
  }
  diag sprintf('total %.1f s', time - $t_start);
}

1;
