# [metrics]: /metrics in the Prometheus text format, parsed by Debian's python3-prometheus-client,
# with counters that move as traffic goes through (sessions, messages and bytes per route,
# handshake statuses, close codes, backend connect times, TLS failures, reloads, sessions on an
# older configuration, process figures); /healthz answering 200, then 503 while a SIGTERM drains;
# 404 elsewhere; and the config errors of [metrics].
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use WsgateMojo;
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use Time::HiRes qw(sleep time);
use WsgateTest;

my $PY = '/usr/bin/python3';
plan skip_all => 'python3-prometheus-client is not installed (tools/install-deps --test)'
  unless system($PY, '-c', 'import prometheus_client.parser') == 0;

my $dir = tempdir(CLEANUP => 1);
my $http = Mojo::UserAgent->new(request_timeout => 10);

# GET on the metrics listener: (status, content type, body).
sub get {
  my ($port, $path) = @_;
  my $res = $http->get("http://127.0.0.1:$port$path")->result;
  return ($res->code, $res->headers->content_type // '', $res->body);
}

# Scrapes /metrics and parses it with prometheus_client's parser: { families => { name =>
# { type, help } }, samples => [[name, {labels}, value], ...], type => content type }.
sub scrape {
  my ($port) = @_;
  my ($code, $type, $body) = get($port, '/metrics');
  die "GET /metrics: $code" unless $code == 200;
  my $file = "$dir/scrape.txt";
  open my $fh, '>', $file or die;
  print $fh $body;
  close $fh;
  my $json = `'$PY' - '$file' <<'PY'
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {"families": {}, "samples": []}
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    out["families"][f.name] = {"type": f.type, "help": f.documentation}
    out["samples"] += [[s.name, s.labels, s.value] for s in f.samples]
print(json.dumps(out))
PY`;
  die "the parser refused the exposition:\n$body" if $? != 0;
  my $m = decode_json($json);
  $m->{type} = $type;
  $m->{text} = $body;
  return $m;
}

# A sample's value (0 if absent), its labels matching %want.
sub val {
  my ($m, $name, %want) = @_;
  SAMPLE: for my $s (@{ $m->{samples} }) {
    next unless $s->[0] eq $name;
    for (keys %want) { next SAMPLE unless ($s->[1]{$_} // '') eq $want{$_} }
    return $s->[2];
  }
  return 0;
}

# The family of a metric: the parser drops a counter's _total from the family name.
sub family {
  my ($m, $name) = @_;
  return $m->{families}{$name} // $m->{families}{ $name =~ s/_total$//r };
}

my $backend = tcp_echo_server();
my $mport = empty_port();
my $routes = "[route echo]\npath = /echo\nbackend = echo\n"
  . "[route tcp]\npath = /tcp\nbackend = " . $backend->backend . "\ntype = text\n";
my $gw = wsgate("[metrics]\nlisten = 127.0.0.1:$mport\n$routes",
  server => "shutdown_timeout = 3s\n");

# ---- the exposition ----
my $m0 = scrape($mport);
like($m0->{type}, qr{^text/plain; version=0\.0\.4}, '/metrics: text/plain; version=0.0.4');
for my $f (qw(wsgate_client_connections_open wsgate_client_connections_total
  wsgate_connections_open wsgate_connections_total wsgate_messages_total wsgate_bytes_total
  wsgate_handshakes_total wsgate_close_codes_sent_total wsgate_close_codes_received_total
  wsgate_backend_connect_seconds wsgate_tls_handshakes_total wsgate_tls_handshake_failures_total
  wsgate_reloads_total wsgate_config_generation wsgate_old_generation_sessions wsgate_draining
  process_open_fds process_resident_memory_bytes)) {
  my $fam = family($m0, $f);
  ok($fam && length $fam->{help}, "$f: parsed, with HELP text");
}
is(family($m0, 'wsgate_backend_connect_seconds')->{type}, 'histogram', '... connect time is a histogram');
is(family($m0, 'wsgate_connections_total')->{type}, 'counter', '... sessions per route a counter');
is(family($m0, 'wsgate_connections_open')->{type}, 'gauge', '... and open ones a gauge');
is(val($m0, 'wsgate_connections_total', route => 'echo'), 0, 'each route is there from the start');
cmp_ok(val($m0, 'process_open_fds'), '>', 3, 'process_open_fds counts descriptors');
cmp_ok(val($m0, 'process_resident_memory_bytes'), '>', 1 << 20, 'process_resident_memory_bytes');
is(val($m0, 'wsgate_config_generation'), 1, 'config generation 1 at start');

# ---- an echo session moves the counters ----
my @msgs = ('hello', 'x' x 300, "\xc3\xa9t\xc3\xa9");  # the last in UTF-8, as bytes
my $sent = 0;
{
  my $st = mojo_ws($gw->url('/echo'));
  ok($st->{opened}, 'a WebSocket on the echo route');
  my $m = scrape($mport);
  is(val($m, 'wsgate_connections_open', route => 'echo'), 1, '... counts as open on its route');
  is(val($m, 'wsgate_connections_total', route => 'echo'), 1, '... and in its total');
  is(val($m, 'wsgate_handshakes_total', status => '101'), 1, '... and its 101 at once');
  $st->{tx}->send({text => $_}) for @msgs;
  $sent += length($_) for @msgs;
  my $want = join '', @msgs;
  run_until(10, sub { $st->{data} eq $want });
  $st->{tx}->finish(1000);
  ok(run_until(10, sub { mojo_gone($st) }), '... echoed, and closed with 1000');
}
my $m1;
ok(wait_for(10, sub {
  $m1 = scrape($mport);
  val($m1, 'wsgate_connections_open', route => 'echo') == 0;
}), 'the ended session is no longer open');
is(val($m1, 'wsgate_messages_total', route => 'echo', direction => 'in'), 3, 'messages in: 3');
is(val($m1, 'wsgate_messages_total', route => 'echo', direction => 'out'), 3, 'messages out: 3');
cmp_ok(val($m1, 'wsgate_bytes_total', route => 'echo', direction => 'in'), '>=', $sent,
  "bytes in: at least the $sent payload bytes");
cmp_ok(val($m1, 'wsgate_bytes_total', route => 'echo', direction => 'out'), '>=', $sent,
  'bytes out: at least as many');
cmp_ok(val($m1, 'wsgate_bytes_total', route => 'echo', direction => 'in'), '<', $sent + 1000,
  '... and not wildly more (handshake and framing)');
is(val($m1, 'wsgate_close_codes_received_total', code => '1000'), 1, 'close 1000 received');
is(val($m1, 'wsgate_close_codes_sent_total', code => '1000'), 1, 'close 1000 sent back');
is(val($m1, 'wsgate_client_connections_total') - val($m0, 'wsgate_client_connections_total'), 1,
  'one more client connection accepted');

# ---- a 404 handshake and a closing code of wsgate's own ----
{
  my ($s, $buf, $res) = ws_open($gw->port, '/nope');
  is($res && $res->{status}, 404, 'no route: 404');
  close $s;
  ($s, $buf, $res) = ws_open($gw->port, '/echo');
  is($res && $res->{status}, 101, 'a raw client on the echo route');
  send_all($s, client_frame(0x1, "\xff\xfe"));  # invalid UTF-8: wsgate closes with 1007
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1007, '... sent invalid UTF-8 and got 1007');
  close $s;
}
my $m2;
ok(wait_for(10, sub {
  $m2 = scrape($mport);
  val($m2, 'wsgate_handshakes_total', status => '404') == 1
    && val($m2, 'wsgate_close_codes_sent_total', code => '1007') == 1;
}), 'the 404 shows under status="404", the 1007 under close codes sent');
is(val($m2, 'wsgate_handshakes_total', status => '101'), 2, '101s: 2');

# ---- a tcp:// route: the backend connect time ----
{
  my $st = mojo_ws($gw->url('/tcp'));
  ok($st->{opened}, 'a WebSocket on the tcp:// route');
  $st->{tx}->send({text => "ping\n"});
  run_until(10, sub { $st->{data} eq "ping\n" });
  is($st->{data}, "ping\n", '... bridged to the echo backend and back');
  $st->{tx}->finish(1000);
  run_until(10, sub { mojo_gone($st) });
}
my $m3;
ok(wait_for(10, sub {
  $m3 = scrape($mport);
  val($m3, 'wsgate_messages_total', route => 'tcp', direction => 'in') == 1;
}), 'the tcp route counts its message');
is(val($m3, 'wsgate_backend_connect_seconds_count'), 1, 'one backend connect observed');
is(val($m3, 'wsgate_backend_connect_seconds_bucket', le => '+Inf'), 1, '... in the +Inf bucket');
is(val($m3, 'wsgate_backend_connect_seconds_bucket', le => '5'), 1,
  '... and within 5 s (a generous bound)');
cmp_ok(val($m3, 'wsgate_backend_connect_seconds_sum'), '>', 0, '... taking some time');
is(val($m3, 'wsgate_connections_total', route => 'tcp'), 1, 'tcp route: one session');
is(val($m3, 'wsgate_connections_total', route => 'echo'), 2, 'echo route: still two');

# ---- SIGHUP: reloads, the generation, sessions on the old one ----
{
  my $st = mojo_ws($gw->url('/echo'));
  ok($st->{opened}, 'a session open across a reload');
  kill 'HUP', $gw->pid;
  my $m;
  ok(wait_for(10, sub {
    $m = scrape($mport);
    val($m, 'wsgate_reloads_total', result => 'ok') == 1;
  }), 'SIGHUP: reloads_total{result="ok"} 1');
  is(val($m, 'wsgate_reloads_total', result => 'failed'), 0, '... none failed');
  is(val($m, 'wsgate_config_generation'), 2, '... generation 2');
  ok(wait_for(10, sub { val(scrape($mport), 'wsgate_old_generation_sessions') == 1 }),
    '... the open session is on the old generation');
  $st->{tx}->send({text => 'still here'});
  run_until(10, sub { $st->{data} eq 'still here' });
  is($st->{data}, 'still here', '... and still served');
  $st->{tx}->finish(1000);
  run_until(10, sub { mojo_gone($st) });
  ok(wait_for(10, sub { val(scrape($mport), 'wsgate_old_generation_sessions') == 0 }),
    'once it ends, no session is on an old generation');
}

# ---- other paths ----
{
  my ($code, $type, $body) = get($mport, '/');
  is($code, 404, 'GET / on the metrics listener: 404');
  ($code) = get($mport, '/metrics/x');
  is($code, 404, 'GET /metrics/x: 404');
  my $res = $http->post("http://127.0.0.1:$mport/metrics")->result;
  isnt($res->code, 200, 'POST /metrics is refused (' . $res->code . ')');
}

# ---- /healthz, and 503 while draining ----
{
  my ($code, $type, $body) = get($mport, '/healthz');
  is($code, 200, '/healthz: 200 while serving');
  is($body, "ok\n", '... "ok"');
  # A client that never answers the close keeps the drain going for shutdown_timeout (3 s).
  my ($s, $buf, $res) = ws_open($gw->port, '/echo');
  is($res && $res->{status}, 101, 'a client that will not answer the close');
  my $t0 = time;
  kill 'TERM', $gw->pid;
  my $f = read_frame($s, 5, $buf);
  is($f && $f->{opcode}, 8, 'SIGTERM: the client gets its close');
  ($code, $type, $body) = get($mport, '/healthz');
  is($code, 503, '/healthz: 503 while draining');
  is($body, "draining\n", '... "draining"');
  is(val(scrape($mport), 'wsgate_draining'), 1, 'wsgate_draining 1');
  ok(time - $t0 < 3, '... all before shutdown_timeout, with wsgate still running');
  is($gw->wait_exit(10), 0, 'then wsgate exits 0');
  close $s;
}

# ---- TLS handshake failures by reason ----
{
  my $ca = test_pki($dir, server => 'DNS:localhost,IP:127.0.0.1');
  my $tport = empty_port();
  my $tgw = wsgate("[metrics]\nlisten = 127.0.0.1:$tport\n[route echo]\npath = /echo\nbackend = echo\n",
    tls => 1, server => "tls_cert = $dir/server.pem\ntls_key = $dir/server.key\n");
  my $s = raw_connect($tgw->port);
  send_all($s, "GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ok(tcp_closed($s, '', 10), 'plain HTTP on a TLS listener is closed');
  close $s;
  my $m;
  ok(wait_for(10, sub {
    $m = scrape($tport);
    val($m, 'wsgate_tls_handshake_failures_total', reason => 'plain_http') == 1;
  }), 'tls_handshake_failures_total{reason="plain_http"} 1');
  my ($rc, $out) = run_command(20, 'sh', '-c',
    "printf 'Q\\n' | openssl s_client -connect 127.0.0.1:" . $tgw->port
    . " -servername localhost -CAfile '$ca' -brief 2>&1");
  like($out, qr/Verification: OK|CONNECTION ESTABLISHED/i, 'openssl s_client completes a handshake');
  ok(wait_for(10, sub { val(scrape($tport), 'wsgate_tls_handshakes_total') == 1 }),
    '... counted in tls_handshakes_total once it ends');
}

# ---- config errors ----
{
  my $conf = "$dir/bad.ini";
  open my $fh, '>', $conf or die;
  print $fh "[server]\nlisten = 127.0.0.1:8080\n[metrics]\nlisten = 127.0.0.1:9100 tls\n$routes";
  close $fh;
  my ($rc, $out) = run_command(10, $WsgateTest::BIN, '-t', '-c', $conf);
  isnt($rc, 0, '-t refuses [metrics] listen with tls');
  like($out, qr/\Q$conf\E:4: the \[metrics\] listener serves plain HTTP; remove "tls"/,
    '... at its FILE:LINE, saying the fix');
  my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
    or die;
  my $bport = $busy->sockport;
  my $g = wsgate("[metrics]\nlisten = 127.0.0.1:$bport\n$routes", wait => 0);
  isnt($g->wait_exit(10), 0, 'a metrics port already taken stops the start');
  my @conf = split /\n/, slurp($g->{conf});
  my ($line) = grep { $conf[$_ - 1] eq "listen = 127.0.0.1:$bport" } 1 .. @conf;
  like($g->log_text, qr/\Q$g->{conf}\E:$line: \[metrics\] cannot listen on 127\.0\.0\.1:$bport/,
    '... naming the file and line of its listen key');
}

done_testing;
