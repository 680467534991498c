# Session and process lifecycle: SIGTERM graceful stop, idle_timeout, ping_interval, the access
# and error logs, and several workers.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use WsgateMojo;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use IO::Select;
use WsgateTest;

my $dir = tempdir(CLEANUP => 1);

# ---- helpers ----

# Sends $msg as a binary message and waits up to 5 s for it to come back; true if it did.
sub mojo_echo {
  my ($st, $msg) = @_;
  $st->{data} = '';
  $st->{tx}->send({binary => $msg});
  run_until(5, sub { $st->{data} eq $msg || $st->{finished} });
  return $st->{data} eq $msg;
}

# ---- SIGTERM: close 1001 to every client, flush the backend, exit 0 ----
{
  my $rec = recorder("$dir/term.rec", 1);
  my $gw = wsgate(<<"INI");
[route echo]
path = /echo
backend = echo

[route tcp]
path = /tcp
backend = ${\ $rec->backend }
INI
  my $a = mojo_ws($gw->url('/echo'));
  my $b = mojo_ws($gw->url('/tcp'));
  ok($a->{opened} && $b->{opened}, 'SIGTERM: two sessions open (echo and tcp routes)');
  ok(mojo_echo($a, 'before the signal'), 'the echo session works');
  # A third client is still in its handshake.
  my $half = raw_connect($gw->port);
  send_all($half, "GET /echo HTTP/1.1\r\nHost: localhost\r\n");
  my $data = join '', map { pack('N', $_) } 1 .. 50_000;    # 200 kB
  $b->{tx}->send({binary => $data});
  run_until(0.3, sub { 0 });
  my $t0 = time;
  kill 'TERM', $gw->pid;
  run_until(6, sub { mojo_gone($a) && mojo_gone($b) });
  is($a->{code}, 1001, 'the echo client receives close 1001');
  is($b->{code}, 1001, 'the tcp client receives close 1001');
  my $answer = '';
  my $sel = IO::Select->new($half);
  1 while $sel->can_read(2) && sysread($half, $answer, 4096, length $answer);
  ok($sel->can_read(0) && !sysread($half, my $more, 1), 'the client still in its handshake is '
    . 'answered and closed, not left hanging') or diag $answer;
  like($answer, qr{^(HTTP/1\.1 5\d\d |$)}, 'with a 5xx or nothing, never a 101');
  close $half;
  my $status = $gw->wait_exit(6);
  diag sprintf('SIGTERM to exit: %.2fs', time - $t0);
  is($status, 0, 'wsgate exits 0');
  cmp_ok(time - $t0, '<', 3, 'within a few seconds') or diag $gw->log_text;
  ok(wait_for(5, sub { -e "$dir/term.rec.end" }), 'the backend connection ends');
  is(slurp("$dir/term.rec.end"), 'eof', 'with a clean EOF');
  my $got = slurp("$dir/term.rec") // '';
  ok($got eq $data, 'after the data sent just before the signal') or diag length $got;
  my $log = $gw->log_text;
  like($log, qr/closing connections and stopping/, 'the stop is logged');
  unlike($log, qr/still open at the shutdown deadline/, 'no session had to be cut at the deadline');
  like($log, qr{"/tcp" route=tcp .*status=101 .*close=1001 }, 'the access log records close=1001');
  like($log, qr/\] stopped$/m, 'and it logs "stopped"');
}

# SIGTERM with a client that never answers the close: exit 0 at shutdown_timeout anyway.
{
  my $gw = wsgate("[route echo]\npath = /echo\nbackend = echo\n", server => "shutdown_timeout = 3s\n");
  my ($s, $buf, $res) = ws_open($gw->port, '/echo');
  is($res && $res->{status}, 101, 'deaf client: 101');
  my $t0 = time;
  kill 'TERM', $gw->pid;
  my $f = read_frame($s, 5, $buf);
  is($f && $f->{opcode}, 8, 'deaf client: gets a close frame');
  is($f && unpack('n', $f->{payload}), 1001, 'with 1001');
  my $status = $gw->wait_exit(8);
  diag sprintf('SIGTERM to exit with a deaf client: %.2fs', time - $t0);
  is($status, 0, 'wsgate still exits 0');
  cmp_ok(time - $t0, '<', 6, 'within a few seconds');
  close $s;
}

# SIGINT stops the same way.
{
  my $gw = wsgate("[route echo]\npath = /echo\nbackend = echo\n");
  my $st = mojo_ws($gw->url('/echo'));
  ok(mojo_echo($st, 'before SIGINT'), 'SIGINT: session open');
  my $t0 = time;
  kill 'INT', $gw->pid;
  run_until(5, sub { mojo_gone($st) });
  is($st->{code}, 1001, 'SIGINT: the client receives close 1001');
  my $status = $gw->wait_exit(6);
  is($status, 0, 'SIGINT: exit 0');
  cmp_ok(time - $t0, '<', 3, 'SIGINT: within a few seconds') or diag $gw->log_text;
}

# ---- idle_timeout ----
{
  my $rec = recorder("$dir/idle.rec");
  my $gw = wsgate(<<"INI");
[route idle-tcp]
path = /idle-tcp
backend = ${\ $rec->backend }
idle_timeout = 1s

[route idle-echo]
path = /idle-echo
backend = echo
idle_timeout = 1s

[route plain]
path = /plain
backend = echo
INI
  my ($s, $buf, $res) = ws_open($gw->port, '/idle-tcp');
  my $t0 = time;
  is($res && $res->{status}, 101, 'idle: 101');
  my ($code, $reason) = read_until_close($s, 5, $buf);
  my $after = time - $t0;
  is($code, 1001, 'a silent client gets close 1001');
  diag sprintf('idle close after %.2fs', $after);
  ok($after > 0.8 && $after < 2.5, 'after about 1 s') or diag $after;
  ok(wait_for(3, sub { -e "$dir/idle.rec.end" }), 'its backend connection ends');
  is(slurp("$dir/idle.rec.end"), 'eof', 'with a clean EOF');
  close $s;

  # Traffic every 0.3 s keeps a session open well past the timeout.
  my $st = mojo_ws($gw->url('/idle-echo'));
  my $start = time;
  my ($echoed, $last) = (0, time);
  while (time - $start < 2.4) {
    $echoed++ if mojo_echo($st, "tick $echoed");
    $last = time;
    run_until(0.3, sub { $st->{finished} });
    last if $st->{finished};
  }
  ok(!$st->{finished}, 'traffic keeps the session open for 2.4 s with idle_timeout = 1s');
  cmp_ok($echoed, '>=', 6, "every message echoed ($echoed)");
  run_until(4, sub { mojo_gone($st) });
  is($st->{code}, 1001, 'once the traffic stops: close 1001');
  my $quiet = ($st->{finished} // time) - $last;
  ok($quiet > 0.7 && $quiet < 2.5, sprintf('about 1 s after the last message (%.2fs)', $quiet));

  # A route without idle_timeout is not affected.
  my $p = mojo_ws($gw->url('/plain'));
  run_until(1.5, sub { $p->{finished} });
  ok(!$p->{finished} && mojo_echo($p, 'x'), 'a route without idle_timeout stays open');
  $p->{tx}->finish(1000);
  run_until(3, sub { mojo_gone($p) });
}

# ---- ping_interval ----
{
  my $gw = wsgate("[route ping]\npath = /ping\nbackend = echo\nping_interval = 500ms\n");
  my $st = mojo_ws($gw->url('/ping'));
  run_until(1.8, sub { $st->{finished} });
  cmp_ok($st->{pings}, '>=', 2, "Mojo client received pings ($st->{pings} in 1.8 s)");
  ok(!$st->{finished}, 'answering them (Mojo pongs) keeps the session open past 2 intervals');
  ok(mojo_echo($st, 'alive'), 'and it still echoes');
  $st->{tx}->finish(1000);
  run_until(3, sub { mojo_gone($st) });
  is($st->{code}, 1000, 'then closes normally');

  # A raw client that answers each ping with its payload stays open too.
  my ($s, $buf) = ws_open($gw->port, '/ping');
  my $t0 = time;
  my ($pongs, $closed) = (0, 0);
  while (time - $t0 < 1.7) {
    my $f = read_frame($s, 0.3, $buf) or next;
    if ($f->{opcode} == 9) { send_all($s, client_frame(10, $f->{payload})); $pongs++ }
    $closed = 1 if $f->{opcode} == 8;
  }
  ok($pongs >= 2 && !$closed, "raw client answering $pongs pings stays open");
  send_all($s, client_frame(1, 'hi'));
  my $f;
  do { $f = read_frame($s, 2, $buf) } while $f && $f->{opcode} == 9;
  is($f && $f->{payload}, 'hi', 'and still echoes');
  close $s;

  # A raw client that never answers: close 1001 after about two intervals.
  ($s, $buf) = ws_open($gw->port, '/ping');
  $t0 = time;
  my ($ping_at, $code);
  while (my $f = read_frame($s, 4, $buf)) {
    $ping_at //= time - $t0 if $f->{opcode} == 9;
    if ($f->{opcode} == 8) { $code = unpack('n', $f->{payload}); last }
  }
  my $after = time - $t0;
  diag sprintf('ping at %.2fs, close after %.2fs', $ping_at // -1, $after);
  ok(defined $ping_at && $ping_at > 0.3 && $ping_at < 1.0, 'the deaf client got a ping first');
  is($code, 1001, 'no pong: close 1001');
  ok($after > 0.8 && $after < 1.45, 'two intervals after it opened: one missed pong window');
  close $s;
}

# ---- access and error logs ----

# Traffic for the logs of $g: a session on /tcp that echoes $msg ("$name: session works") and
# closes with 1000, then a request for an unrouted path. Returns (the session's client port, the
# unrouted request's client port, its response).
sub log_traffic {
  my ($g, $msg, $name) = @_;
  my $st = mojo_ws($g->url('/tcp'));
  my $cport = $st->{tx}->local_port;
  ok(mojo_echo($st, $msg), "$name: session works");
  $st->{tx}->finish(1000);
  run_until(3, sub { mojo_gone($st) });
  my ($s, undef, $res) = ws_open($g->port, '/nope');
  my $nport = $s->sockport;
  close $s;
  return ($cport, $nport, $res);
}

{
  my $echo = tcp_echo_server();
  my $bport = $echo->port;
  my $routes = "[route tcpecho]\npath = /tcp\nbackend = ${\ $echo->backend }\n";

  # Default: both go to stderr.
  my $gw = wsgate($routes);
  my ($cport, $nport, $res) = log_traffic($gw, 'x' x 1000, 'access log');
  my $line = qq{^\\S+ 127\\.0\\.0\\.1:$cport "/tcp" route=tcpecho backend=tcp://127\\.0\\.0\\.1:$bport }
    . q{status=101 duration=(\d+\.\d{3})s in=(\d+) out=(\d+) close=1000 "[^"]*" msgs=(\d+)/(\d+) by=client };
  my $re = qr{$line}m;
  ok(wait_for(3, sub { $gw->log_text =~ $re }), 'access line: address, path, route, backend, '
    . 'status=101, close=1000') or diag $gw->log_text;
  my ($dur, $in, $out, $msgs_in, $msgs_out) = $gw->log_text =~ $re;
  is($msgs_in, 1, 'msgs= counts the one message from the client');
  cmp_ok($msgs_out // 0, '>=', 1, "msgs= counts the frames sent to the client ($msgs_out)");
  cmp_ok($in // 0, '>', 1000, "in= counts the client's bytes ($in)");
  cmp_ok($out // 0, '>', 1000, "out= counts the bytes sent to the client ($out)");
  ok(defined $dur && $dur < 10, "duration is plausible ($dur s)");

  is($res && $res->{status}, 404, 'unrouted path: 404');
  ok(wait_for(3, sub { $gw->log_text =~ /127\.0\.0\.1:$nport "\/nope" route=- backend=- status=404 / }),
    'access line for the 404');

  # access_log = off
  my $off = wsgate($routes, server => "access_log = off\n");
  log_traffic($off, 'quiet', 'access_log = off');
  is($off->stop('TERM'), 0, 'access_log = off: clean stop');
  my $text = $off->log_text;
  like($text, qr/listening on/, 'the error log still goes to stderr');
  unlike($text, qr/status=\d+/, 'but no access lines at all');

  # access_log and error_log to files
  my ($alog, $elog) = ("$dir/access.log", "$dir/error.log");
  my $files = wsgate($routes, server => "access_log = $alog\nerror_log = $elog\n");
  ($cport) = log_traffic($files, 'to files', 'logs to files');
  is($files->stop('TERM'), 0, 'logs to files: clean stop');
  my $a = slurp($alog) // '';
  my $e = slurp($elog) // '';
  like($a, qr/127\.0\.0\.1:$cport "\/tcp" route=tcpecho .* status=101 .* close=1000 /,
    'access_log = FILE gets the session line');
  like($a, qr/"\/nope" route=- backend=- status=404 /, 'and the 404 line');
  unlike($a, qr/\[(info|warn|error)\]/, 'and no error-log lines');
  like($e, qr/\[info\] wsgate .* listening on 127\.0\.0\.1:\d+/, 'error_log = FILE gets the start line');
  like($e, qr/404 Not Found: no route/, 'the per-request messages');
  like($e, qr/\] stopped$/m, 'and the stop');
  unlike($e, qr/status=\d+/, 'but no access lines');
  my $stderr = $files->log_text;
  unlike($stderr, qr/listening on|status=\d+/, 'nothing of either goes to stderr');
}

# ---- workers = 2 ----
{
  my $gw = wsgate("[route echo]\npath = /echo\nbackend = echo\n", server => "workers = 2\n");
  like($gw->log_text, qr/with 2 workers/, 'workers = 2 is logged');
  my $pid = $gw->pid;
  my $switches = sub {
    my %n;
    for my $task (glob "/proc/$pid/task/*") {
      my ($tid) = $task =~ /(\d+)$/;
      next if $tid == $pid;
      # Only the workers: the log writer (and metrics) threads have names of their own.
      next unless (slurp("$task/comm") // '') =~ /^wsgate worker/;
      open my $fh, '<', "$task/status" or next;
      while (<$fh>) { $n{$tid} = $1 if /^voluntary_ctxt_switches:\s+(\d+)/ }
    }
    return \%n;
  };
  sleep 0.2;
  my $before = $switches->();
  is(scalar keys %$before, 2, 'two worker threads besides the main thread');
  my @st = map { mojo_start($gw->url('/echo')) } 1 .. 20;
  ok(run_until(10, sub { !grep { !$_->{opened} } @st }), 'all 20 connections open at once');
  for my $i (0 .. $#st) { $st[$i]{tx}->send({binary => "message $i " . ('.' x $i)}) if $st[$i]{tx} }
  run_until(10, sub { !grep { $st[$_]{data} ne "message $_ " . ('.' x $_) } 0 .. $#st });
  my @bad = grep { $st[$_]{data} ne "message $_ " . ('.' x $_) } 0 .. $#st;
  is_deeply(\@bad, [], 'all 20 echo correctly');
  $_->{tx}->finish(1000) for grep { $_->{tx} } @st;
  run_until(5, sub { !grep { !mojo_gone($_) } @st });
  is_deeply([map { $_->{code} // -1 } @st], [(1000) x 20], 'all 20 close with 1000');
  my $after = $switches->();
  # An idle worker sleeps in epoll_wait with no timers, so any wakeup means it had work.
  my @busy = grep { ($after->{$_} // 0) > $before->{$_} } keys %$before;
  diag 'worker thread wakeups: '
    . join(', ', map { "$_: " . (($after->{$_} // 0) - $before->{$_}) } sort keys %$before);
  is(scalar @busy, 2, 'both worker threads served connections');
}

done_testing;
