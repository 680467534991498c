# What the hostile-peer tests (t/60-hostile.t, t/61-hostile-limits.t) share: sessions and echo
# round trips that never die, resets, descriptor and CPU counts, RSS with its peak, and the
# checks every case ends with (still alive, no crash in the log, a clean stop).
package HostileTest;

use strict;
use warnings;
use Exporter 'import';
use FindBin;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More;
use Time::HiRes qw(time);
use WsgateTest qw(
  raw_connect raw_upgrade read_http_response client_frame read_frame send_all rss_kib wait_for
);

our @EXPORT = qw(rss peak_rss within_bound no_fd_leak alive open_session echo_ok session_echoes
  rst_close fd_count cpu_seconds peer_closed header64 open_many log_clean stops_cleanly);

my $CRASH = qr/fatal|AddressSanitizer|LeakSanitizer|runtime error|Segmentation|core dumped|Aborted/i;

# wsgate's RSS in KiB; remembers the highest value seen (peak_rss).
my $PEAK_RSS = 0;
sub peak_rss { $PEAK_RSS }
sub rss {
  my $r = rss_kib($_[0]);
  $PEAK_RSS = $r if $r > $PEAK_RSS;
  return $r;
}

# RSS bounds mean nothing under AddressSanitizer, whose quarantine holds freed memory on purpose:
# there the numbers are still printed but the bounds are skipped.
my $ASAN = do {
  my $hit = 0;
  my $bin = $ENV{WSGATE_HOSTILE_REAL} || $ENV{WSGATE} || "$FindBin::Bin/../build/wsgate";
  if (open my $fh, '<:raw', $bin) {
    local $/ = \(1 << 20);
    my $tail = '';
    while (my $chunk = <$fh>) {
      if (index($tail . $chunk, '__asan_init') >= 0) { $hit = 1; last }
      $tail = substr($chunk, -16);
    }
  }
  $hit;
};

# ok() for a memory bound; skipped under AddressSanitizer.
sub within_bound {
  my ($cond, $name) = @_;
 SKIP: {
    skip "$name: RSS bounds are not checked under AddressSanitizer (its quarantine keeps freed memory)", 1
      if $ASAN;
    ok($cond, $name);
  }
}

# Waits until wsgate holds no more descriptors than $fd0 (sessions in their close wait can take
# a few seconds to go).
sub no_fd_leak {
  my ($gw, $fd0, $name) = @_;
  my $done = wait_for(8, sub { fd_count($gw->pid) <= $fd0 });
  ok($done, "$name: every descriptor is released afterwards (no fd leak)")
    or diag("$name: wsgate holds ${\ fd_count($gw->pid) } descriptors, $fd0 at rest");
}

sub alive { my ($gw) = @_; $gw->pid && kill(0, $gw->pid) }

# Opens a WebSocket on $path: ($sock, \$buf, $response); $sock is undef unless the answer is 101.
sub open_session {
  my ($port, $path, $timeout) = @_;
  my $s = eval { raw_connect($port) } or return (undef, undef, undef);
  raw_upgrade($s, $path // '/echo') or return (undef, undef, undef);
  my $r = read_http_response($s, $timeout // 5);
  return (undef, undef, $r) unless $r && $r->{status} == 101;
  my $buf = $r->{rest};
  return ($s, \$buf, $r);
}

# A fresh client on $path: handshake, one text echo, close handshake. Returns the seconds it took
# (always true) or undef on any failure. Never dies.
sub echo_ok {
  my ($port, $path) = @_;
  my $t0 = time;
  my ($s, $buf) = open_session($port, $path // '/echo', 3);
  return undef unless $s;
  my $msg = 'still serving ' . int(rand 1e9);
  send_all($s, client_frame(1, $msg)) or return undef;
  my $f = read_frame($s, 3, $buf);
  return undef unless $f && $f->{opcode} == 1 && $f->{payload} eq $msg;
  send_all($s, client_frame(8, pack('n', 1000)));
  my $c = read_frame($s, 3, $buf);
  close $s;
  return undef unless $c && $c->{opcode} == 8;
  my $dt = time - $t0;
  return $dt > 0 ? $dt : 1e-6;
}

# One echo round trip on an already open session.
sub session_echoes {
  my ($s, $buf, $msg) = @_;
  send_all($s, client_frame(2, $msg)) or return 0;
  my $f = read_frame($s, 3, $buf);
  return $f && $f->{opcode} == 2 && $f->{payload} eq $msg;
}

# Close with RST instead of FIN.
sub rst_close {
  my ($s) = @_;
  setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
  close $s;
}

sub fd_count {
  my ($pid) = @_;
  opendir my $d, "/proc/$pid/fd" or return -1;
  my $n = grep { /^\d+$/ } readdir $d;
  return $n;
}

# User + system CPU seconds of a process.
sub cpu_seconds {
  my ($pid) = @_;
  open my $fh, '<', "/proc/$pid/stat" or return undef;
  my $stat = <$fh>;
  $stat =~ s/^.*\)\s+//s;    # after "pid (comm) "
  my @f = split ' ', $stat;  # $f[0] is field 3 (state); utime and stime are fields 14 and 15
  return ($f[11] + $f[12]) / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

# True once the peer closed TCP (EOF or reset) within $secs; anything it still sends is discarded.
sub peer_closed {
  my ($s, $secs) = @_;
  my $sel = IO::Select->new($s);
  my $deadline = time + ($secs // 5);
  while ((my $left = $deadline - time) > 0) {
    return 0 unless $sel->can_read($left);
    my $n = sysread($s, my $junk, 65536);
    return 1 unless $n;
  }
  return 0;
}

# Frame header for a masked binary frame announcing $hi * 2^32 + $lo bytes (64-bit form).
sub header64 {
  my ($hi, $lo) = @_;
  return pack('CC NN', 0x82, 0x80 | 127, $hi, $lo) . pack('N', 0x11223344);
}

# Opens $n connections to $port; with $path each completes a WebSocket handshake.
# Returns (sockets, number that got a 101).
sub open_many {
  my ($port, $n, $path) = @_;
  my @s;
  for (1 .. $n) {
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
      or last;
    push @s, $c;
  }
  my $ok = 0;
  if ($path) {
    raw_upgrade($_, $path) for @s;
    for (@s) {
      my $r = read_http_response($_, 10);
      $ok++ if $r && $r->{status} == 101;
    }
  }
  return (\@s, $ok);
}

sub log_clean {
  my ($gw, $name) = @_;
  my $log = $gw->log_text;
  ok(alive($gw), "$name: wsgate is still running");
  unlike($log, $CRASH, "$name: the log shows no crash, sanitizer report or fatal error");
}

sub stops_cleanly {
  my ($gw, $name) = @_;
  is($gw->stop('TERM', 10), 0, "$name: wsgate exits 0 on SIGTERM afterwards");
}

1;
