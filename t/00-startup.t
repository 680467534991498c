# Startup, -t, -V, -h, bad configs with FILE:LINE, and the shipped sample config.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use WsgateTest;

my $bin = $WsgateTest::BIN;
my $dir = tempdir(CLEANUP => 1);

sub write_conf {
  my ($text) = @_;
  my $f = "$dir/c" . int(rand(1e9)) . ".ini";
  open my $fh, '>', $f or die;
  print $fh $text;
  close $fh;
  return $f;
}

sub run_cmd {
  my $out = qx{"$bin" @_ 2>&1};
  return ($? >> 8, $out);
}

my ($rc, $out) = run_cmd('-V');
is($rc, 0, '-V exits 0');
like($out, qr/^wsgate \d+\.\d+\.\d+$/m, '-V prints the version');

($rc, $out) = run_cmd('-h');
is($rc, 0, '-h exits 0');
like($out, qr/usage: wsgate \[-c FILE\]/, '-h prints usage');

($rc, $out) = run_cmd('-x');
is($rc, 1, 'an unknown flag exits 1');

($rc, $out) = run_cmd('-t', '-c', "$FindBin::Bin/../conf/wsgate.ini");
is($rc, 0, 'the shipped conf/wsgate.ini passes -t');
# A machine whose descriptor limit is low also gets -t's warning about max_connections.
like($out, qr/\A(?:\S+: warning: descriptor limit [^\n]*\n)?configuration ok\n\z/,
  '-t prints "configuration ok"');

my $good = write_conf("[server]\nlisten = 127.0.0.1:1\n[route e]\npath = /e\nbackend = echo\n");
($rc, $out) = run_cmd('-t', '-c', $good);
is($rc, 0, '-t on a good config exits 0');

my $bad = write_conf(<<'INI');
[server]
listen = 127.0.0.1:8080
workers = many
[route a]
path = /a
bakend = echo
[route b]
path = /a
backend = tcp://127.0.0.1:99999
INI
($rc, $out) = run_cmd('-t', '-c', $bad);
is($rc, 1, '-t on a bad config exits 1');
like($out, qr/^\Q$bad\E:3: bad workers "many"/m, 'bad value named with file:line');
like($out, qr/^\Q$bad\E:6: unknown key "bakend" in \[route a\]; known keys: .*backend/m,
  'unknown key named with file:line and the known keys');
like($out, qr/^\Q$bad\E:4: \[route a\] has no backend/m, 'missing backend at the route line');
like($out, qr/^\Q$bad\E:8: path \/a is already routed at line 5/m, 'duplicate path at its line');
like($out, qr/^\Q$bad\E:9: bad backend "tcp:\/\/127.0.0.1:99999"/m, 'bad port');
unlike($out, qr/configuration ok/, 'no "configuration ok" on errors');

($rc, $out) = run_cmd('-t', '-c', "$dir/missing.ini");
is($rc, 1, 'a missing config file exits 1');
like($out, qr/missing\.ini:0: cannot read: No such file/, 'and says why');

# A daemon that starts, serves the echo route and stops on SIGTERM with exit 0.
{
  my $gw = wsgate("[route echo]\npath = /echo\nbackend = echo\n");
  ok($gw->pid, 'wsgate starts and listens');
  like($gw->log_text, qr/listening on 127\.0\.0\.1:\d+/, 'it logs where it listens');
  is($gw->stop('TERM'), 0, 'SIGTERM with no clients: exit 0');
}

# A port already in use is a clear fatal error, even though workers share ports with SO_REUSEPORT.
{
  my $gw = wsgate("[route echo]\npath = /echo\nbackend = echo\n");
  my $second = wsgate("[route echo]\npath = /echo\nbackend = echo\n", port => $gw->port, wait => 0);
  my $status = $second->wait_exit(5);
  ok(defined $status, 'a second wsgate on a busy port exits');
  is($status && $status >> 8, 1, 'with status 1');
  like($second->log_text, qr/cannot listen on 127\.0\.0\.1:\d+: Address already in use/,
    'and says the address is in use');
  ok(kill(0, $gw->pid), 'the first instance keeps running');
}

done_testing;
