# A log destination that takes nothing (here a FIFO nobody reads, as a stuck disk would be)
# must not stall the event loops: clients keep being served while the log waits, and the lines
# come out once it drains.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl;
use File::Temp qw(tempdir);
use POSIX qw(mkfifo);
use Time::HiRes qw(sleep time);
use WsgateTest;

my $dir = tempdir(CLEANUP => 1);
my $fifo = "$dir/access.fifo";
mkfifo($fifo, 0600) or die "mkfifo: $!";
# A reader that holds the FIFO open and reads nothing yet: writes fill its 64 KiB and block.
sysopen(my $reader, $fifo, O_RDONLY | O_NONBLOCK) or die "open fifo: $!";

my $gw = wsgate("[route echo]\npath = /echo\nbackend = echo\n", server => "access_log = $fifo\n");
my $n = 1500;  # about 250 bytes of access log each: several times what the pipe holds
my ($ok, $t0) = (0, time);
for my $i (1 .. $n) {
  my ($s, $buf, $res) = ws_open($gw->port, "/echo?n=$i");
  $ok++ if $res && $res->{status} == 101;
  close $s;
  last if time - $t0 > 60;
}
my $took = time - $t0;
is($ok, $n, "$n clients served while the access log takes nothing");
cmp_ok($took, '<', 60, sprintf('... without waiting on it (%.1f s)', $took));
my ($s, $buf, $res) = ws_open($gw->port, '/echo');
send_all($s, client_frame(1, 'still served'));
my $f = read_frame($s, 5, $buf);
is($f && $f->{payload}, 'still served', 'an echo round trip still works');
close $s;

# The reader wakes up: the lines queued meanwhile come out, in order.
fcntl($reader, F_SETFL, 0);
my ($text, $seen) = ('', 0);
my $until = time + 20;
while (time < $until && $seen < $n) {
  my $rin = '';
  vec($rin, fileno($reader), 1) = 1;
  last unless select(my $rout = $rin, undef, undef, 2);
  sysread($reader, $text, 65536, length $text) or last;
  $seen = () = $text =~ m{"/echo\?n=\d+"}g;
}
is($seen, $n, 'every access line comes out once the log drains');
my @order = $text =~ m{"/echo\?n=(\d+)"}g;
is_deeply(\@order, [1 .. $n], '... in order');
is($gw->stop('TERM'), 0, 'a clean stop');

# A log that never drains must not keep wsgate from stopping either.
{
  my $stuck = "$dir/stuck.fifo";
  mkfifo($stuck, 0600) or die "mkfifo: $!";
  sysopen(my $r, $stuck, O_RDONLY | O_NONBLOCK) or die "open fifo: $!";
  my $g = wsgate("[route echo]\npath = /echo\nbackend = echo\n", server => "access_log = $stuck\n");
  for my $i (1 .. 600) {
    my ($s) = ws_open($g->port, "/echo?n=$i");
    close $s;
  }
  my $t = time;
  is($g->stop('TERM', 15), 0, 'SIGTERM with the access log stuck: exit 0');
  cmp_ok(time - $t, '<', 10, sprintf('... without waiting on the log (%.1f s)', time - $t));
  close $r;
}

done_testing;
