# The process as an operator drives it: --help and --version, -t warning about the descriptor
# limit, SIGUSR1 reopening the logs after they were moved (as logrotate does), SIGUSR2 ignored,
# shutdown_timeout cutting a client that never closes, a second SIGTERM exiting at once, and
# shutdown_grace serving on with /healthz at 503 before the stop.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use WsgateTest;

my $dir = tempdir(CLEANUP => 1);
my $BIN = $WsgateTest::BIN;
my $echo = "[route echo]\npath = /echo\nbackend = echo\n";

# ---- command line ----
{
  my ($rc, $out) = run_command(10, $BIN, '--version');
  is($rc, 0, '--version exits 0');
  like($out, qr/^wsgate \d+\.\d+/, '... and prints the version');
  ($rc, $out) = run_command(10, $BIN, '--help');
  is($rc, 0, '--help exits 0');
  like($out, qr/--config FILE/, '... and lists the long options');
  ($rc, $out) = run_command(10, $BIN, '--no-such-option');
  isnt($rc, 0, 'an unknown long option is refused');
  like($out, qr/usage: wsgate/, '... with the usage');
}
{
  my $conf = "$dir/big.ini";
  open my $fh, '>', $conf or die;
  print $fh "[server]\nmax_connections = 100000\n$echo";
  close $fh;
  my ($rc, $out) = run_command(10, 'sh', '-c', "ulimit -n 256 && exec '$BIN' -t -c '$conf'");
  is($rc, 0, '-t with a descriptor limit too small for max_connections still passes');
  like($out, qr/warning: descriptor limit 256 cannot hold max_connections = 100000/,
    '... but warns about it') or diag $out;
  like($out, qr/configuration ok/, '... and says the configuration is ok');
}

# ---- SIGUSR1 reopens the logs; SIGUSR2 is ignored ----
{
  my ($err, $acc) = ("$dir/error.log", "$dir/access.log");
  my $gw = wsgate("[route echo]\npath = /echo/*\nbackend = echo\n",
    server => "error_log = $err\naccess_log = $acc\n");
  my ($s, $buf, $res) = ws_open($gw->port, '/echo/first');
  is($res && $res->{status}, 101, 'a connection before the rotation');
  close $s;
  ok(wait_for(5, sub { (slurp($acc) // '') =~ m{echo/first} }), '... is in the access log');
  rename $acc, "$acc.1" or die;
  rename $err, "$err.1" or die;
  kill 'USR1', $gw->pid;
  ok(wait_for(5, sub { (slurp($err) // '') =~ /SIGUSR1: log files reopened/ }),
    'SIGUSR1: the error log is reopened under its path');
  ($s, $buf, $res) = ws_open($gw->port, '/echo/second');
  is($res && $res->{status}, 101, 'a connection after the rotation');
  close $s;
  ok(wait_for(5, sub { (slurp($acc) // '') =~ m{echo/second} }), '... goes to the new access log');
  unlike(slurp("$acc.1") // '', qr{second}, '... and not to the rotated one');
  like(slurp("$acc.1") // '', qr{echo/first}, 'the rotated file keeps what it had');

  kill 'USR2', $gw->pid;
  ok(wait_for(5, sub { (slurp($err) // '') =~ /SIGUSR2 received and ignored/ }), 'SIGUSR2 is logged');
  ($s, $buf, $res) = ws_open($gw->port, '/echo/third');
  is($res && $res->{status}, 101, '... and ignored: wsgate still serves');
  close $s;
  is($gw->stop('TERM'), 0, 'a clean stop afterwards');
}

# ---- shutdown_timeout and a second SIGTERM ----
{
  my $gw = wsgate($echo, server => "shutdown_timeout = 1s\n");
  my ($s, $buf, $res) = ws_open($gw->port, '/echo');
  is($res && $res->{status}, 101, 'a client that will not answer the close');
  my $t0 = time;
  kill 'TERM', $gw->pid;
  my $status = $gw->wait_exit(10);
  my $took = time - $t0;
  is($status, 0, 'SIGTERM: exit 0');
  ok($took >= 0.8 && $took < 4, sprintf('... at shutdown_timeout = 1s (took %.2fs)', $took));
  like($gw->log_text, qr/still open at the shutdown deadline/, '... logging the cut connection');
}
{
  my $gw = wsgate($echo);  # shutdown_timeout: 30s by default
  my ($s, $buf, $res) = ws_open($gw->port, '/echo');
  is($res && $res->{status}, 101, 'a client that will not answer the close, default timeout');
  my $t0 = time;
  kill 'TERM', $gw->pid;
  my $f = read_frame($s, 5, $buf);
  is($f && $f->{opcode}, 8, 'the first SIGTERM sends the close');
  ok(!defined $gw->wait_exit(1), '... and wsgate waits for the answer');
  kill 'TERM', $gw->pid;
  my $status = $gw->wait_exit(5);
  my $took = time - $t0;
  is($status, 0, 'a second SIGTERM exits at once, with 0');
  cmp_ok($took, '<', 4, sprintf('... long before shutdown_timeout (took %.2fs)', $took));
  like($gw->log_text, qr/received again: exiting now/, '... and says so');
}

# ---- shutdown_grace: serving on, /healthz 503, then the stop; a second signal ends it ----
sub healthz {
  my ($port) = @_;
  my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
    or return 'refused';
  send_all($s, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  my $res = read_http_response($s, 5);
  return $res ? $res->{status} : 'no answer';
}
{
  my $mp = empty_port();
  my $gw = wsgate($echo . "\n[metrics]\nlisten = 127.0.0.1:$mp\n",
    server => "shutdown_grace = 2s\n");
  is(healthz($mp), 200, 'shutdown_grace: /healthz 200 while serving');
  my ($held, $hbuf, $hres) = ws_open($gw->port, '/echo');
  is($hres && $hres->{status}, 101, 'a session open before the SIGTERM');
  my $t0 = time;
  kill 'TERM', $gw->pid;
  ok(wait_for(2, sub { healthz($mp) eq '503' }), 'after SIGTERM, /healthz answers 503 at once');
  my ($s, $buf, $res) = ws_open($gw->port, '/echo');
  is($res && $res->{status}, 101, 'during the grace a new client still gets its 101');
  send_all($s, client_frame(1, 'in the grace'));
  my $f = read_frame($s, 5, $buf);
  is($f && $f->{payload}, 'in the grace', '... and its echo');
  my ($code) = read_until_close($held, 10, $hbuf);
  my $took = time - $t0;
  is($code, 1001, 'after the grace the open sessions get 1001');
  ok($took >= 1.5 && $took < 8, sprintf('... once shutdown_grace = 2s is over (took %.2fs)', $took));
  send_all($held, client_frame(8, pack('n', 1001)));
  my ($code2) = read_until_close($s, 5, $buf);
  is($code2, 1001, '... the one opened in the grace too');
  send_all($s, client_frame(8, pack('n', 1001)));
  is($gw->wait_exit(10), 0, 'and wsgate exits 0');
  like($gw->log_text, qr/serving for 2000 ms more with \/healthz at 503 \(shutdown_grace\)/,
    'the log says it serves on');
}
{
  my $gw = wsgate($echo, server => "shutdown_grace = 60s\n");
  my $t0 = time;
  kill 'TERM', $gw->pid;
  sleep 0.3;
  my ($s, $buf, $res) = ws_open($gw->port, '/echo');
  is($res && $res->{status}, 101, 'a long grace: still serving');
  kill 'TERM', $gw->pid;
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1001, 'a second SIGTERM ends the grace: close 1001');
  send_all($s, client_frame(8, pack('n', 1001)));
  is($gw->wait_exit(10), 0, '... and wsgate exits 0');
  cmp_ok(time - $t0, '<', 10, '... long before the 60 s grace');
  like($gw->log_text, qr/received again: ending the grace/, '... and says so');
}

done_testing;
