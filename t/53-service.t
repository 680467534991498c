# wsgate as an installed service: make install DESTDIR=... from the build directory of $WSGATE
# (binary, man page, systemd unit, logrotate file, and a wsgate.ini that a second install keeps),
# systemd-analyze verify on the unit and logrotate -d on the logrotate file when those tools are
# there, pid_file, the switch to nobody/nogroup after binding, and the sd_notify states seen on
# a NOTIFY_SOCKET of our own.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Basename qw(dirname);
use File::Find;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_DGRAM);
use Time::HiRes qw(sleep time);
use WsgateTest;

my $BIN = $WsgateTest::BIN;
my $src = dirname($FindBin::Bin);
my $dir = tempdir(CLEANUP => 1);
my $echo = "[route echo]\npath = /echo\nbackend = echo\n";
my $build = dirname($BIN);
my $makefile = slurp("$build/Makefile") // '';
my $configured = $makefile =~ /^install-data-local:/m;
my $with_systemd = $makefile =~ /-DHAVE_SYSTEMD=1/;

# Writes $text to a file in $dir and returns its path.
sub write_file {
  my ($name, $text, $mode) = @_;
  my $path = "$dir/$name";
  open my $fh, '>', $path or die "$path: $!";
  print $fh $text;
  close $fh;
  chmod $mode, $path if defined $mode;
  return $path;
}

# One echo round trip on the gateway's /echo route; true if the text came back.
sub echoes {
  my ($port, $text) = @_;
  my ($s, $buf, $res) = ws_open($port, '/echo');
  return 0 unless $res && $res->{status} == 101;
  send_all($s, client_frame(1, $text));
  my $f = read_frame($s, 5, $buf);
  close $s;
  return $f && $f->{payload} eq $text;
}

# Runs make in the build directory as a person would, not as a sub-make of the one running
# the tests (its jobserver and variables are not ours).
sub make_in_build {
  my (@args) = @_;
  local @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES)};
  delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES)};
  return run_command(600, 'make', '-C', $build, @args);
}

# ---- make install DESTDIR=... ----
SKIP: {
  skip "no configured build directory beside $BIN (make install needs one)", 1 unless $configured;
  my $stage = "$dir/stage";
  my ($rc, $out) = make_in_build('install', "DESTDIR=$stage");
  is($rc, 0, 'make install DESTDIR=... succeeds') or diag $out;
  my %files;
  find(sub { $files{ $File::Find::name =~ s/^\Q$stage\E//r } = 1 if -f }, $stage);
  my %want = (binary => qr{/sbin/wsgate$}, 'man page' => qr{/man8/wsgate\.8$},
    'systemd unit' => qr{/systemd/system/wsgate\.service$},
    'logrotate file' => qr{/logrotate\.d/wsgate$}, 'sample config' => qr{/wsgate/wsgate\.ini$});
  my %at;
  for my $what (sort keys %want) {
    ($at{$what}) = grep { $_ =~ $want{$what} } keys %files;
    ok($at{$what}, "installs the $what") or diag join "\n", sort keys %files;
  }
  my ($sbin, $ini, $unit) = @at{'binary', 'sample config', 'systemd unit'};
  skip 'the install is incomplete', 1 unless $sbin && $ini && $unit;
  ok(-x "$stage$sbin", '... the binary executable');

  my $u = slurp("$stage$unit");
  like($u, qr/^Type=\Q${\($with_systemd ? 'notify' : 'simple')}\E$/m,
    'the unit is Type=' . ($with_systemd ? 'notify (built with libsystemd)' : 'simple'));
  like($u, qr/^ExecStart=\Q$sbin\E -c \Q$ini\E$/m, '... starts the installed binary on the installed config');
  like($u, qr/^ExecStartPre=\Q$sbin\E -t -c \Q$ini\E$/m, '... checks the config first');
  like($u, qr/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m, '... reloads with SIGHUP');
  for my $line ('NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes',
    'PrivateTmp=yes', 'PrivateDevices=yes', 'KillMode=mixed', 'LogsDirectory=wsgate',
    'RuntimeDirectory=wsgate', 'AmbientCapabilities=CAP_NET_BIND_SERVICE') {
    like($u, qr/^\Q$line\E$/m, "... $line");
  }
  like($u, qr/^CapabilityBoundingSet=CAP_NET_BIND_SERVICE\b/m, '... CapabilityBoundingSet');
  like($u, qr/^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$/m, '... RestrictAddressFamilies');
  my ($stop) = $u =~ /^TimeoutStopSec=(\d+)s$/m;
  ok($stop && $stop > 30, "... TimeoutStopSec (${\($stop // '?')}s) above shutdown_timeout's 30s");

  ($rc, $out) = run_command(10, "$stage$sbin", '-t', '-c', "$stage$ini");
  is($rc, 0, 'the installed binary accepts the installed wsgate.ini') or diag $out;

  # A second install over an edited wsgate.ini.
  open my $fh, '>>', "$stage$ini" or die;
  print $fh "; edited by the operator\n";
  close $fh;
  ($rc, $out) = make_in_build('install', "DESTDIR=$stage");
  is($rc, 0, 'a second make install succeeds') or diag $out;
  like(slurp("$stage$ini"), qr/; edited by the operator\n\z/, '... and keeps the edited wsgate.ini');
  is(slurp("$stage$ini.sample"), slurp("$src/conf/wsgate.ini"), '... with the new sample beside it');
  like($out, qr/kept the existing \S*wsgate\.ini; the new sample is \S*wsgate\.ini\.sample/,
    '... and says so');

  # systemd-analyze verify, on a copy whose paths point into the staging directory.
  SKIP: {
    chomp(my $sa = `command -v systemd-analyze 2>/dev/null`);
    skip 'systemd-analyze is not installed', 2 unless $sa;
    my $copy = "$dir/verify/wsgate.service";
    mkdir "$dir/verify";
    open my $vf, '>', $copy or die;
    print $vf $u =~ s{\Q$sbin\E}{$stage$sbin}gr =~ s{\Q$ini\E}{$stage$ini}gr;
    close $vf;
    my ($man) = grep { m{/man8/wsgate\.8$} } keys %files;
    local $ENV{MANPATH} = $stage . ($man =~ s{/man8/wsgate\.8$}{}r);
    ($rc, $out) = run_command(60, $sa, 'verify', $copy);
    is($rc, 0, 'systemd-analyze verify passes on the unit') or diag $out;
    is($out, '', '... without a warning') or diag $out;
  }

  # logrotate -d: the file parses and names the log directory the unit creates.
  SKIP: {
    chomp(my $lr = `command -v logrotate 2>/dev/null || ls /usr/sbin/logrotate 2>/dev/null`);
    skip 'logrotate is not installed', 2 unless $lr;
    my ($lrfile) = grep { m{/logrotate\.d/wsgate$} } keys %files;
    ($rc, $out) = run_command(30, $lr, '-d', '-s', "$dir/logrotate.state", "$stage$lrfile");
    is($rc, 0, 'logrotate -d accepts the logrotate file') or diag $out;
    like($out, qr{/var/log/wsgate/\*\.log}, '... which rotates /var/log/wsgate/*.log') or diag $out;
  }

  ($rc, $out) = make_in_build('uninstall', "DESTDIR=$stage");
  is($rc, 0, 'make uninstall succeeds') or diag $out;
  ok(!-e "$stage$_", "... removes $_") for ($sbin, $unit, "$ini.sample");
  ok(-e "$stage$ini", '... but keeps the edited wsgate.ini');
}

# ---- pid_file ----
{
  my $pidf = write_file('stale.pid', "999999\n");
  my $gw = wsgate($echo, server => "pid_file = $pidf\n");
  ok(wait_for(5, sub { (slurp($pidf) // '') eq $gw->pid . "\n" }),
    'pid_file: a stale file is replaced by the pid') or diag slurp($pidf);
  ok(echoes($gw->port, 'pid'), '... while serving');
  is($gw->stop('TERM'), 0, 'SIGTERM: exit 0');
  ok(!-e $pidf, '... and the pid_file is removed');

  my $conf = write_file('badpid.ini',
    "[server]\nlisten = 127.0.0.1:" . empty_port() . "\npid_file = $dir/no/such/dir/w.pid\n$echo");
  my ($rc, $out) = run_command(10, $BIN, '-c', $conf);
  isnt($rc, 0, 'an unwritable pid_file fails the start');
  like($out, qr{cannot write pid_file \Q$dir\E/no/such/dir/w\.pid: No such file or directory},
    '... saying which file and why') or diag $out;
}

# ---- user and group ----
SKIP: {
  skip 'not running as root: cannot test switching users', 1 if $> != 0;
  my @nobody = getpwnam('nobody');
  my @nogroup = getgrnam('nogroup');
  skip 'no user nobody or group nogroup here', 1 unless @nobody && @nogroup;
  my ($uid, $gid) = ($nobody[2], $nogroup[2]);

  # A directory nobody may write to, for the pid file it removes after the switch.
  my $base = tempdir(CLEANUP => 1);
  chmod 0711, $base;
  my $run = "$base/run";
  mkdir $run or die;
  chown $uid, $gid, $run;
  my $gw = wsgate($echo, server => "user = nobody\ngroup = nogroup\npid_file = $run/w.pid\n");
  my $status = sub { slurp('/proc/' . $gw->pid . '/status') // '' };
  ok(wait_for(5, sub { $status->() =~ /^Uid:\t$uid\t$uid\t$uid\t$uid$/m }),
    "user = nobody: real, effective, saved and fs uid are $uid") or diag $status->();
  like($status->(), qr/^Gid:\t$gid\t$gid\t$gid\t$gid$/m, "group = nogroup: every gid is $gid");
  my ($groups) = $status->() =~ /^Groups:\t?(.*)$/m;
  unlike(" $groups ", qr/ 0 /, "... and root's group is not among the supplementary ones ($groups)");
  my @threads = glob('/proc/' . $gw->pid . '/task/*/status');
  my @root = grep { (slurp($_) // '') !~ /^Uid:\t$uid\t/m } @threads;
  ok(@threads > 1 && !@root, 'every thread, the workers too, runs as nobody');
  ok(echoes($gw->port, 'as nobody'), '... and the listener bound before the switch serves');
  like($gw->log_text, qr/running as user nobody \(uid $uid\), group nogroup \(gid $gid\)/,
    'the switch is logged');
  is($gw->stop('TERM'), 0, 'SIGTERM: exit 0');
  ok(!-e "$run/w.pid", '... and the pid_file is removed by nobody');

  # Logs rotated under the switched user: wsgate hands its log files to nobody, logrotate's
  # "create" recreates them with that owner, and SIGUSR1 reopens them.
  SKIP: {
    chomp(my $lr = `command -v logrotate 2>/dev/null || ls /usr/sbin/logrotate 2>/dev/null`);
    skip 'logrotate is not installed', 7 unless $lr;
    my $logs = "$base/log";
    mkdir $logs or die;
    my ($err, $acc) = ("$logs/error.log", "$logs/access.log");
    my $gw = wsgate($echo, server => "user = nobody\ngroup = nogroup\nerror_log = $err\naccess_log = $acc\n");
    ok(echoes($gw->port, 'before'), 'as nobody with log files: a connection before the rotation');
    ok(wait_for(5, sub { (slurp($acc) // '') =~ m{/echo} }), '... is in the access log');
    my $pid = $gw->pid;
    my $rot = slurp("$src/conf/wsgate.logrotate") =~ s{/var/log/wsgate/}{$logs/}r
      =~ s{^\s*systemctl kill.*$}{\t\tkill -USR1 $pid}mr;
    my $rotconf = write_file('logrotate.conf', $rot, 0644);
    my ($rc, $out) = run_command(30, $lr, '-f', '-s', "$dir/rot.state", $rotconf);
    is($rc, 0, 'the shipped logrotate file (pointed at the test logs) rotates them') or diag $out;
    ok(wait_for(5, sub { (slurp($err) // '') =~ /SIGUSR1: log files reopened/ }),
      '... and wsgate, as nobody, reopens the recreated files') or diag slurp($err), slurp("$err.1");
    ok(echoes($gw->port, 'after'), 'a connection after the rotation');
    ok(wait_for(5, sub { (slurp($acc) // '') =~ m{/echo} }), '... goes to the new access log');
    is($gw->stop('TERM'), 0, 'SIGTERM: exit 0');
  }

  my $conf = write_file('nouser.ini', "[server]\nworkers = 1\nuser = no-such-user-wsgate\n$echo");
  my ($rc, $out) = run_command(10, $BIN, '-t', '-c', $conf);
  isnt($rc, 0, '-t refuses a user that does not exist');
  like($out, qr/^\Q$conf\E:3: unknown user "no-such-user-wsgate"; write an existing account/m,
    '... with FILE:LINE and the fix') or diag $out;
  $conf = write_file('nogroup.ini', "[server]\ngroup = no-such-group-wsgate\n$echo");
  ($rc, $out) = run_command(10, $BIN, '-t', '-c', $conf);
  like($out, qr/^\Q$conf\E:2: unknown group "no-such-group-wsgate"/m, '... and so a group')
    or diag $out;

  # Started as nobody with user = root: a clear refusal, not a half-started gateway.
  SKIP: {
    chomp(my $setpriv = `command -v setpriv 2>/dev/null`);
    skip 'setpriv (util-linux) is not installed', 2 unless $setpriv;
    my $conf = write_file('asroot.ini',
      "[server]\nlisten = 127.0.0.1:" . empty_port() . "\nuser = root\n$echo", 0644);
    chmod 0755, $dir;
    ($rc, $out) = run_command(10, $setpriv, "--reuid=$uid", "--regid=$gid", '--clear-groups',
      $BIN, '-c', $conf);
    chmod 0700, $dir;
    isnt($rc, 0, 'a start as nobody with user = root fails');
    like($out, qr/cannot switch to user root \(uid 0\): wsgate runs as uid $uid, and only root can change accounts/,
      '... and says why') or diag $out;
  }
}

# ---- sd_notify: READY, RELOADING, STOPPING on NOTIFY_SOCKET ----
SKIP: {
  skip 'built without libsystemd (or no build directory to tell): no sd_notify', 1
    unless $with_systemd;
  my $path = "$dir/notify.sock";
  my $sock = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path) or die "$path: $!";
  my $sel = IO::Select->new($sock);
  # The next datagram within $secs, or undef.
  my $next = sub {
    my ($secs) = @_;
    return undef unless $sel->can_read($secs);
    $sock->recv(my $msg, 4096);
    return $msg;
  };
  my $gw = do {
    local $ENV{NOTIFY_SOCKET} = $path;
    wsgate($echo, wait => 0);
  };
  my $msg = $next->(10);
  is($msg, 'READY=1', 'READY=1 once started');
  ok(echoes($gw->port, 'ready'), '... and the listener serves by then');
  kill 'HUP', $gw->pid;
  is($next->(10), 'RELOADING=1', 'SIGHUP: RELOADING=1');
  is($next->(10), 'READY=1', '... then READY=1');
  ok(echoes($gw->port, 'reloaded'), '... still serving');
  kill 'TERM', $gw->pid;
  is($next->(10), 'STOPPING=1', 'SIGTERM: STOPPING=1');
  is($gw->wait_exit(10), 0, '... and exit 0');
  is($next->(0.5), undef, 'nothing more is sent');
}

done_testing();
