# RFC 6455 conformance at the limits (9.x), on the echo route and the tcp:// text and binary
# routes: a 16 MiB message in 1-byte fragments, 1000 messages of 64 KiB and 100 of 1 MiB, streamed
# while what comes back is read and verified as it arrives; wsgate's time, CPU and peak RSS are
# reported. The frames wsgate sends are checked as in 25-conformance.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use WsgateTest qw(client_frame rss_kib);
use ConformanceClient;

$SIG{PIPE} = 'IGNORE';
my $T_START = time;

my $gw = conformance_gateway();
my %FAMILY;    # family => { cases, runs, fail }

# CONFORMANCE_FAMILIES=limits runs these; any other list skips them.
my %ONLY = map { $_ => 1 } split /,/, $ENV{CONFORMANCE_FAMILIES} // '';

# ---------------------------------------------------------------------------------------------
# Limits and performance (9.x): each case streams its frames while what comes back is read and
# verified as it arrives; wsgate's time, CPU and peak RSS are reported.

# CPU seconds (user + system) a process has used.
sub cpu_secs {
  my ($pid) = @_;
  open my $fh, '<', "/proc/$pid/stat" or return 0;
  my @f = split ' ', (<$fh> =~ s/^.*\) //r);
  return ($f[11] + $f[12]) / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

# Sends the frames $gen yields (without waiting for echoes) and checks what comes back: on the
# echo route each message in turn with $check->($index, [$op, $payload]) (which returns '' or a
# complaint) until $n came back; on a tcp:// route the concatenated bytes against $want. Then
# closes with 1000. Returns the seconds from the first write to the last byte back.
sub stream_case {
  my ($name, $route, %o) = @_;
  my $R = $ROUTE{$route};
  my $st = conn_open($route);
  my (@why, $count);
  $count = 0;
  if (!$R->{tcp}) {
    $st->{on_msg} = sub {
      my $err = $o{check}->($count++, $_[0]);
      push @why, "message $count: $err" if $err && @why < 5;
    };
  }
  my $done = $R->{tcp} ? sub { $_[0]{data_bytes} >= length $o{want} } : sub { $count >= $o{n} };
  my $t0 = time;
  my $cpu0 = cpu_secs($gw->pid);
  my $rss0 = rss_kib($gw->pid);
  rss_watch($gw->pid, $rss0);
  my $err = send_data($st, $o{gen}, 0, $o{secs});
  push @why, $err if $err;
  wait_until($st, $done, $o{secs} - (time - $t0))
    or push @why, $R->{tcp} ? "only $st->{data_bytes} of " . length($o{want}) . ' bytes came back' : "only $count of $o{n} messages came back";
  my $took = time - $t0;
  my $grew = rss_unwatch() - $rss0;
  diag sprintf('%s [%s]: %.2f s, of which wsgate used %.2f s of CPU; its RSS grew by %.1f MiB at most',
    $name, $R->{label}, $took, cpu_secs($gw->pid) - $cpu0, $grew / 1024);
  if ($R->{tcp}) {
    push @why, 'payload bytes differ from what was sent (' . length($st->{data}) . ' bytes back)' unless $st->{data} eq $o{want};
    my @ops = grep { $_ != $R->{op} } keys %{ $st->{frame_ops} };
    push @why, "data frames with opcode @ops" if @ops;
  }
  send_data($st, client_frame(8, pack('n', 1000)), 0, 5);
  wait_until($st, sub { $_[0]{close} && $_[0]{eof} }, 5);
  my $got_close = $st->{close} ? $st->{close}[0] : 'no close frame';
  push @why, "close: got $got_close, want 1000" unless $got_close eq '1000';
  push @why, @{ $st->{bad} };
  close $st->{sock};
  $FAMILY{limits}{runs}++;
  $FAMILY{limits}{secs} += $took;
  ok(!@why, "RFC 6455 $o{sec} [$R->{label}, $o{writes}]: $name") or do { $FAMILY{limits}{fail}++; diag join "\n", @why };
  return ($took, $grew);
}

if (!%ONLY || $ONLY{limits}) {
  # A 16 MiB text message in 16,777,216 one-byte fragments: 112 MiB of frames. Each 64 KiB block
  # starts with its number, so a lost, doubled or reordered block shows; multibyte characters
  # are cut at every byte.
  my $filler = utf8_text(65536 - 8, 0);
  my @keys = map { pack('N', int rand 2**32) } 0 .. 63;
  my $frames_of = sub {    # 1-byte continuation frames for $bytes
    my ($bytes) = @_;
    my $out = '';
    my $i = 0;
    for my $c (unpack('(a)*', $bytes)) {
      my $k = $keys[$i++ & 63];
      $out .= "\x00\x81" . $k . ($c ^ substr($k, 0, 1));
    }
    return $out;
  };
  my $filler_frames = $frames_of->($filler);
  my $blocks = 256;
  my $want = join '', map { sprintf('%08d', $_) . $filler } 0 .. $blocks - 1;
  $FAMILY{limits}{cases}++;
  for my $route (@ALL_ROUTES) {
    my $b = 0;
    my $gen = sub {
      return undef if $b >= $blocks;
      my $chunk = $frames_of->(sprintf('%08d', $b)) . $filler_frames;
      substr($chunk, 0, 1, "\x01") if $b == 0;               # text, FIN=0
      substr($chunk, -7, 1, "\x80") if $b == $blocks - 1;    # continuation, FIN=1
      $b++;
      return $chunk;
    };
    my ($took, $grew) = stream_case('a 16 MiB text message in 1-byte fragments comes back intact', $route,
      sec => '5.4/9.x', writes => '448 KiB writes', gen => $gen, n => 1, want => $want, secs => 60,
      check => sub { my ($i, $m) = @_; $m->[0] == 1 && $m->[1] eq $want ? '' : "opcode $m->[0], " . length($m->[1]) . ' bytes' });
    # A guard against pathological slowness, not a benchmark (bench/ is for that); sanitizer
    # builds run several times slower.
    my $limit = $ENV{ASAN_OPTIONS} ? 60 : 20;
    cmp_ok($took, '<', $limit, "RFC 6455 9.x [$ROUTE{$route}{label}]: the 16 MiB message in 1-byte fragments takes seconds (under $limit s)")
      or $FAMILY{limits}{fail}++;
    # wsgate holds at most 256 KiB of payload per direction before it stops reading; a tiny
    # fragment must not cost it a heap block of its own.
    cmp_ok($grew, '<', 16 << 10, "RFC 6455 9.x [$ROUTE{$route}{label}]: meanwhile wsgate's peak RSS grows by less than 16 MiB (in KiB)")
      or $FAMILY{limits}{fail}++;
  }

  # 1000 text messages of 64 KiB, and 100 binary messages of 1 MiB, numbered.
  my $text = utf8_text(65536 - 6, 3);
  $FAMILY{limits}{cases}++;
  for my $route (qw(echo text)) {
    my $i = 0;
    stream_case('1000 text messages of 64 KiB come back in order', $route,
      sec => '9.x', writes => 'one write each', n => 1000, secs => 60,
      gen => sub { $i < 1000 ? client_frame(1, sprintf('%06d', $i++) . $text) : undef },
      want => join('', map { sprintf('%06d', $_) . $text } 0 .. 999),
      check => sub { my ($k, $m) = @_; $m->[0] == 1 && $m->[1] eq sprintf('%06d', $k) . $text ? '' : "opcode $m->[0], " . show($m->[1]) });
  }
  my $bin = bin_data((1 << 20) - 4, 1);
  $FAMILY{limits}{cases}++;
  for my $route (qw(echo bin)) {
    my $i = 0;
    stream_case('100 binary messages of 1 MiB come back in order', $route,
      sec => '9.x', writes => 'one write each', n => 100, secs => 60,
      gen => sub { $i < 100 ? client_frame(2, pack('N', $i++) . $bin) : undef },
      want => join('', map { pack('N', $_) . $bin } 0 .. 99),
      check => sub { my ($k, $m) = @_; $m->[0] == 2 && $m->[1] eq pack('N', $k) . $bin ? '' : "opcode $m->[0], " . length($m->[1]) . ' bytes' });
  }
}

ok(kill(0, $gw->pid), 'wsgate is still running after every case');

family_summary(\%FAMILY, $T_START);

done_testing;
