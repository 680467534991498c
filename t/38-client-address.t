# The client's address from a PROXY header, followed everywhere wsgate uses it: the PROXY
# header it sends on to a bridge's backend, max_connections_per_ip (IPv6 grouped by /64, IPv4
# by address), the 429's log lines, the access log and /metrics. The sources are documentation
# addresses that only exist inside the headers, so nothing but the header can have given them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Socket qw(inet_ntoa inet_ntop AF_INET6);
use WsgateTest;

my $dir = tempdir(CLEANUP => 1);

# A bridge backend that reads the v2 header wsgate sends first, appends "SRC SPORT DST DPORT"
# to a file, then echoes.
my $seen = "$dir/seen";
my $backend = start_server(sub {
  my $c = shift;
  my $head = '';
  while (length $head < 16) { sysread($c, $head, 16 - length $head, length $head) or return }
  my ($sig, $ver, $fam, $len) = unpack('a12 C C n', $head);
  my $body = '';
  while (length $body < $len) { sysread($c, $body, $len - length $body, length $body) or return }
  my $line = "bad header\n";
  if ($sig eq "\r\n\r\n\0\r\nQUIT\n" && $ver == 0x21 && $fam == 0x21) {
    my ($s, $d, $sp, $dp) = unpack('a16 a16 n n', $body);
    $line = join(' ', inet_ntop(AF_INET6, $s), $sp, inet_ntop(AF_INET6, $d), $dp) . "\n";
  } elsif ($sig eq "\r\n\r\n\0\r\nQUIT\n" && $ver == 0x21 && $fam == 0x11) {
    my ($s, $d, $sp, $dp) = unpack('a4 a4 n n', $body);
    $line = join(' ', inet_ntoa($s), $sp, inet_ntoa($d), $dp) . "\n";
  }
  open my $fh, '>>', $seen or die;
  syswrite($fh, $line);
  close $fh;
  while (sysread($c, my $buf, 65536)) { send_all($c, $buf) or last }
});

my $pp = empty_port();
my $mp = empty_port();
my $acc = "$dir/access.log";
my $bport = $backend->port;
my $gw = wsgate(<<"INI", server => "listen = 127.0.0.1:$pp proxy\nmax_connections_per_ip = 2\naccess_log = $acc\n");
[route echo]
path = /echo
backend = echo

[route bridge]
path = /bridge
backend = tcp://127.0.0.1:$bport
proxy_protocol = v2

[metrics]
listen = 127.0.0.1:$mp
INI

# Opens $path on the proxy port as the client $header names; the socket, read buffer and answer.
sub open_as {
  my ($header, $path) = @_;
  my $s = raw_connect($pp);
  send_all($s, $header);
  raw_upgrade($s, $path);
  my $res = read_http_response($s, 5);
  my $buf = $res ? $res->{rest} : '';
  return ($s, \$buf, $res);
}
sub status_of { my $res = $_[0]; $res ? $res->{status} : 'no answer' }

# Sends one binary message and returns what comes back.
sub echo {
  my ($s, $buf, $msg) = @_;
  send_all($s, client_frame(2, $msg));
  my $f = read_frame($s, 5, $buf);
  return $f ? $f->{payload} : undef;
}

# ---- the header sent on carries the header received ----
my ($a, $abuf, $ares) = open_as(proxy_v2('2001:db8:1:2::a', 1111, '2001:db8::1', 443), '/bridge');
is(status_of($ares), 101, 'v2 IPv6 source through a proxy listener to a proxy_protocol = v2 bridge');
is(echo($a, $abuf, 'bridged'), 'bridged', 'the bridge echoes');
ok(wait_for(5, sub { (slurp($seen) // '') =~ /\S/ }), 'the backend got a header');
is(slurp($seen), "2001:db8:1:2::a 1111 2001:db8::1 443\n",
  "the backend's PROXY header names the client and the address it reached, from the incoming one");

# ---- max_connections_per_ip = 2 counts the header's addresses ----
my ($b, $bbuf, $bres) = open_as(proxy_v2('2001:db8:1:2::b', 2222, '2001:db8::1', 443), '/echo');
is(status_of($bres), 101, 'a second client in the same /64: 101');
my ($c, $cbuf, $cres) = open_as(proxy_v2('2001:db8:1:2:ffff::c', 3333, '2001:db8::1', 443), '/echo');
is(status_of($cres), 429, 'a third in the same /64, another address: 429');
is($cres && $cres->{headers}{'retry-after'}, '1', 'with Retry-After: 1');
ok(tcp_closed($c, $cbuf, 5), 'and closed');
close $c;  # as a client does: wsgate waits for our FIN before the session ends and is logged
my ($d, $dbuf, $dres) = open_as(proxy_v2('2001:db8:1:3::1', 4444, '2001:db8::1', 443), '/echo');
is(status_of($dres), 101, 'the next /64: 101');

my @v4;
for my $i (1 .. 2) {
  my ($s, $sbuf, $res) = open_as(proxy_v1('192.0.2.50', 5000 + $i, '198.51.100.1', 443), '/echo');
  is(status_of($res), 101, "v1 from 192.0.2.50, session $i: 101");
  push @v4, $s;
}
my ($e, $ebuf, $eres) = open_as(proxy_v1('192.0.2.50', 5003, '198.51.100.1', 443), '/echo');
is(status_of($eres), 429, 'a third from 192.0.2.50: 429, though every socket is 127.0.0.1');
close $e;
my ($f, $fbuf, $fres) = open_as(proxy_v1('192.0.2.51', 5004, '198.51.100.1', 443), '/echo');
is(status_of($fres), 101, 'from 192.0.2.51: 101');

# Closing the bridge session frees its slot in 2001:db8:1:2::/64.
send_all($a, client_frame(8, pack('n', 1000)));
read_until_close($a, 5, $abuf);
close $a;
my ($again, $refused) = (undef, 2);  # until wsgate has seen the close, retries are refused too
ok(wait_for(5, sub {
  my ($s, $sbuf, $res) = open_as(proxy_v2('2001:db8:1:2::c', 6666, '2001:db8::1', 443), '/echo');
  $again = $s if status_of($res) eq '101';
  $refused++ if status_of($res) eq '429';
  $again;
}), 'once a session of that /64 ends, another address in it is let in');

# ---- where the refusals show ----
my $text = '';
ok(wait_for(10, sub {
  $text = slurp($acc) // '';
  $text =~ m{^\S+ \[2001:db8:1:2:ffff::c\]:3333 "/echo" .*status=429 }m;
}), "the access log names the refused client by the header's address") or diag $text;
ok(wait_for(10, sub { (slurp($acc) // '') =~ m{^\S+ 192\.0\.2\.50:5003 "/echo" .*status=429 }m }),
  'and the IPv4 one');
like($gw->log_text, qr{\[2001:db8:1:2:ffff::c\]:3333: 429: max_connections_per_ip \(2\)},
  "the error log's refusal names the header's address");
my $ms = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mp, Proto => 'tcp');
send_all($ms, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
my $m = read_http_response($ms, 5);
like($m ? $m->{body} : '', qr/^wsgate_per_ip_rejected_total\{limit="connections"\} $refused$/m,
  "/metrics counts every refusal ($refused)");

done_testing;
