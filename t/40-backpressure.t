# Backpressure: a fast sender facing a slow receiver must not grow wsgate's memory. 200 MiB go
# each way through a tcp:// route while the receiving side stalls; wsgate's RSS is sampled.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use Digest::MD5;
use IO::Select;
use POSIX ();
use WsgateTest;

my $dir = tempdir(CLEANUP => 1);
my $TOTAL_MIB = 200;
my $TOTAL = $TOTAL_MIB << 20;
my $MAX_GROWTH_KIB = 16 * 1024;
my $STALL = 3;    # seconds the receiving side does not read

sub spew {
  my ($f, $text) = @_;
  open my $fh, '>', "$f.tmp" or die "$f: $!";
  print $fh $text;
  close $fh;
  rename "$f.tmp", $f;
}

# Samples the RSS of $pid once, raising $$peak to it if it is higher.
sub sample_peak {
  my ($pid, $peak) = @_;
  my $r = rss_kib($pid);
  $$peak = $r if $r > $$peak;
}

# Samples the RSS of $pid every 0.1 s for $secs; returns the peak.
sub sample_rss {
  my ($pid, $secs) = @_;
  my $peak = 0;
  my $end = time + $secs;
  while (time < $end) { sample_peak($pid, \$peak); sleep 0.1 }
  return $peak;
}

# Reads server frames until a close frame, adding data payloads to $md5; $tick runs every few MiB.
# Returns (payload bytes, close code or -1, frame count).
sub drain_frames {
  my ($sock, $bufref, $md5, $timeout, $tick) = @_;
  my ($total, $frames, $pos) = (0, 0, 0);
  my $buf = $$bufref;
  my $sel = IO::Select->new($sock);
  my $next_tick = 0;
  while (1) {
    # Parse every complete frame in the buffer.
    while (1) {
      my $avail = length($buf) - $pos;
      last if $avail < 2;
      my ($b0, $b1) = unpack("x$pos CC", $buf);
      my ($len, $hl) = ($b1 & 0x7f, 2);
      if ($len == 126) { last if $avail < 4; $len = unpack("x$pos x2 n", $buf); $hl = 4 }
      elsif ($len == 127) { last if $avail < 10; $len = unpack("x$pos x2 Q>", $buf); $hl = 10 }
      last if $avail < $hl + $len;
      my $op = $b0 & 0x0f;
      if ($op == 8) {
        my $code = $len >= 2 ? unpack('n', substr($buf, $pos + $hl, 2)) : undef;
        return ($total, $code, $frames);
      }
      if ($op <= 2) {
        $md5->add(substr($buf, $pos + $hl, $len)) if $md5;
        $total += $len;
        $frames++;
      }
      $pos += $hl + $len;
    }
    substr($buf, 0, $pos, '');
    $pos = 0;
    if ($tick && $total >= $next_tick) { $tick->(); $next_tick = $total + (4 << 20) }
    return ($total, -1, $frames) unless $sel->can_read($timeout);
    my $n = sysread($sock, $buf, 4 << 20, length $buf);
    return ($total, -1, $frames) unless $n;
  }
}

# ---- backends ----

# Floods $TOTAL bytes (64 KiB blocks numbered in their content), writing progress every MiB and
# "bytes md5" at the end; then closes.
my $flood = start_server(sub {
  my $c = shift;
  my $md5 = Digest::MD5->new;
  my $sent = 0;
  for my $i (0 .. ($TOTAL >> 16) - 1) {
    my $blk = pack('N', $i) x 16384;
    send_all($c, $blk) or last;
    $md5->add($blk);
    $sent += length $blk;
    spew("$dir/flood.progress", $sent) if $sent % (1 << 20) == 0;
  }
  spew("$dir/flood.done", "$sent " . $md5->hexdigest);
  shutdown($c, 1);
  1 while sysread($c, my $buf, 65536);
});

# Does not read until $dir/go exists, then reads to EOF and writes "bytes md5".
my $sink = start_server(sub {
  my $c = shift;
  sleep 0.05 until -e "$dir/go";
  my $md5 = Digest::MD5->new;
  my $got = 0;
  while (my $n = sysread($c, my $buf, 1 << 20)) { $got += $n; $md5->add($buf) }
  spew("$dir/sink.done", "$got " . $md5->hexdigest);
});

my $gw = wsgate(<<"INI");
[route flood]
path = /flood
backend = ${\ $flood->backend }

[route sink]
path = /sink
backend = ${\ $sink->backend }

[route echo]
path = /echo
backend = echo
INI
my $port = $gw->port;
my $pid = $gw->pid;

# While the receiving side stalls: samples wsgate's RSS for $STALL s and reads the sender's
# progress file, again 0.5 s later with $recheck; reports "$what ${STALL}s" with growth from $base
# and how far $who got. Returns (RSS peak, bytes sent, bytes sent 0.5 s later).
sub stall {
  my ($base, $progress, $what, $who, $recheck) = @_;
  my $peak = sample_rss($pid, $STALL);
  my $sent = slurp($progress) // 0;
  my $later;
  if ($recheck) { sleep 0.5; $later = slurp($progress) // 0 }
  diag sprintf('%s %ds: baseline RSS %d KiB, peak %d KiB (+%d KiB); %s got %.1f MiB out',
    $what, $STALL, $base, $peak, $peak - $base, $who, $sent / 1048576);
  return ($peak, $sent, $later);
}

# ---- (a) backend floods toward a client that does not read ----
{
  my ($s, $buf, $res) = ws_open($port, '/flood');
  is($res && $res->{status}, 101, 'flood: 101');
  my $base = rss_kib($pid);
  my ($peak, $sent_while_stalled, $sent_later) =
    stall($base, "$dir/flood.progress", 'backend->client, client stalled', 'backend', 1);
  cmp_ok($peak - $base, '<', $MAX_GROWTH_KIB, 'RSS stays flat while the client does not read');
  cmp_ok($sent_while_stalled, '<', 64 << 20, 'wsgate stopped reading from the backend');
  is($sent_later, $sent_while_stalled, 'and the backend stays blocked');

  my $md5 = Digest::MD5->new;
  my $read_peak = 0;
  my $t0 = time;
  my ($got, $code, $frames) =
    drain_frames($s, $buf, $md5, 20, sub { sample_peak($pid, \$read_peak) });
  my $took = time - $t0;
  diag sprintf('client then read %d bytes in %d frames in %.2fs (%.0f MiB/s); RSS peak while '
      . 'reading %d KiB (+%d KiB)', $got, $frames, $took, $got / 1048576 / ($took || 1),
    $read_peak, $read_peak - $base);
  is($got, $TOTAL, "the client received all $TOTAL_MIB MiB");
  my ($bsent, $bmd5) = split ' ', (slurp("$dir/flood.done") // '0 -');
  is($bsent, $TOTAL, 'the backend sent all of it');
  is($md5->hexdigest, $bmd5, 'byte-exact (MD5 matches)');
  is($code, 1000, 'backend EOF gave close 1000 after the data');
  cmp_ok($read_peak - $base, '<', $MAX_GROWTH_KIB, 'RSS also bounded while flowing');
  close $s;
}

# ---- (b) client floods toward a backend that does not read ----
{
  my ($s, $buf, $res) = ws_open($port, '/sink');
  is($res && $res->{status}, 101, 'sink: 101');
  my $base = rss_kib($pid);
  my $mask = "\x5a\xa5\x3c\xc3";
  my $writer = fork // die "fork: $!";
  if ($writer == 0) {
    my $sent = 0;
    for my $i (0 .. $TOTAL_MIB - 1) {
      my $payload = pack('N', $i) x 262144;
      my $frame = "\x82\xff" . pack('Q>', length $payload) . $mask . ($payload ^ ($mask x 262144));
      send_all($s, $frame) or POSIX::_exit(1);
      $sent += length $payload;
      spew("$dir/writer.progress", $sent);
    }
    send_all($s, client_frame(8, pack('n', 1000)));
    POSIX::_exit(0);
  }
  my ($peak, $written) =
    stall($base, "$dir/writer.progress", 'client->backend, backend stalled', 'client');
  cmp_ok($peak - $base, '<', $MAX_GROWTH_KIB, 'RSS stays flat while the backend does not read');
  cmp_ok($written, '<', 64 << 20, 'wsgate stopped reading from the client');

  my $expect = Digest::MD5->new;
  $expect->add(pack('N', $_) x 262144) for 0 .. $TOTAL_MIB - 1;
  my $t0 = time;
  spew("$dir/go", 1);
  my $flow_peak = 0;
  wait_for(60, sub { sample_peak($pid, \$flow_peak); -e "$dir/sink.done" });
  diag sprintf('backend then read for %.2fs; RSS peak while flowing %d KiB (+%d KiB)',
    time - $t0, $flow_peak, $flow_peak - $base);
  waitpid($writer, 0);
  is($? >> 8, 0, 'the client wrote everything and its close frame');
  my ($got, $md5) = split ' ', (slurp("$dir/sink.done") // '0 -');
  is($got, $TOTAL, "the backend received all $TOTAL_MIB MiB, then EOF");
  is($md5, $expect->hexdigest, 'byte-exact (MD5 matches)');
  cmp_ok($flow_peak - $base, '<', $MAX_GROWTH_KIB, 'RSS also bounded while flowing');
  my ($code) = read_until_close($s, 10, $buf);
  is($code, 1000, 'the client close was answered with 1000');
  close $s;
}

# ---- (c) echo route: a client that sends a lot and never reads ----
{
  my ($s, $buf, $res) = ws_open($port, '/echo');
  is($res && $res->{status}, 101, 'echo: 101');
  my $base = rss_kib($pid);
  my $frame = client_frame(2, 'e' x 65536, mask => "\x01\x02\x03\x04");
  my $writer = fork // die "fork: $!";
  if ($writer == 0) {
    my $sent = 0;
    while ($sent < $TOTAL) {
      send_all($s, $frame) or POSIX::_exit(1);
      $sent += 65536;
      spew("$dir/echo.progress", $sent) if $sent % (1 << 20) == 0;
    }
    POSIX::_exit(0);
  }
  my ($peak, $written, $written_later) =
    stall($base, "$dir/echo.progress", 'echo route, client never reads,', 'client', 1);
  cmp_ok($peak - $base, '<', $MAX_GROWTH_KIB, 'echo: RSS stays flat');
  cmp_ok($written, '<', 64 << 20, 'echo: wsgate stopped reading from the client');
  is($written_later, $written, 'echo: and the client stays blocked');
  kill 'KILL', $writer;
  waitpid($writer, 0);
  close $s;

  # The gateway is still healthy afterwards.
  my ($s2, $buf2, $res2) = ws_open($port, '/echo');
  send_all($s2, client_frame(1, 'still alive'));
  my $f = read_frame($s2, 5, $buf2);
  is($f && $f->{payload}, 'still alive', 'wsgate still serves after the stalled client');
  close $s2;
}

done_testing;
