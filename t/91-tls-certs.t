# TLS listeners beyond one certificate: SNI picks among [tls NAME] sections (exact names before
# wildcards, [server]'s as the default), tls_protocols, session tickets and their key rotation,
# client certificates (optional and require, the X-SSL-Client-* headers a ws:// backend gets and
# the spoofed ones it does not), SIGHUP reloading certificates under traffic (a broken file
# keeps the old one), the handshake failure reasons in the log, and TLS in the access log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha1_base64);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use IO::Socket::SSL;
use Time::HiRes qw(sleep time);
use WsgateTest;

plan skip_all => 'needs the openssl command' unless system('openssl version >/dev/null 2>&1') == 0;

my $dir = tempdir(CLEANUP => 1);

# Runs a command with a 60 s limit; dies with its output if it fails.
sub run_cmd {
  my ($rc, $out) = run_command(60, @_);
  die "@_ failed:\n$out" if $rc;
  return $out;
}

# ---- a throwaway PKI: server certificates for SNI, client certificates, a rogue CA ----

test_pki($dir, srv => 'DNS:localhost,IP:127.0.0.1', other => 'DNS:other.example',
  wild => 'DNS:*.wild.example', exact => 'DNS:a.wild.example',
  renewed => 'DNS:renewed.example,DNS:localhost,IP:127.0.0.1');

# A client certificate (clientAuth) signed by $ca, for subject $subj.
sub client_cert {
  my ($name, $subj, $ca) = @_;
  open my $fh, '>', "$dir/client.ext" or die;
  print $fh "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n",
    "extendedKeyUsage = clientAuth\n";
  close $fh;
  run_cmd('openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', "$dir/$name.key", '-out', "$dir/$name.csr", '-subj', $subj);
  run_cmd('openssl', 'x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/$ca.pem", '-CAkey',
    "$dir/$ca.key", '-CAcreateserial', '-out', "$dir/$name.pem", '-days', '2', '-extfile',
    "$dir/client.ext");
}
run_cmd('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
  '-nodes', '-keyout', "$dir/rogue.key", '-out', "$dir/rogue.pem", '-days', '2', '-subj',
  '/CN=rogue CA', '-addext', 'basicConstraints=critical,CA:TRUE',
  '-addext', 'keyUsage=critical,keyCertSign');
client_cert('alice', '/O=Example/CN=alice', 'ca');
client_cert('mallory', '/CN=mallory', 'rogue');
my $alice_fp = lc(run_cmd('openssl', 'x509', '-in', "$dir/alice.pem", '-noout', '-fingerprint',
  '-sha256') =~ s/^.*=//sr =~ s/[:\s]//gr);
is(length $alice_fp, 64, 'client certificates made');

# The files the gateway names; SIGHUP tests replace them.
copy("$dir/srv.pem", "$dir/live.pem") or die;
copy("$dir/srv.key", "$dir/live.key") or die;

# ---- a ws:// backend that records each request head and answers 101 ----

my $heads = "$dir/heads";
my $backend = start_server(sub {
  my $c = shift;
  my $head = '';
  while ($head !~ /\r\n\r\n/) {
    my $n = sysread($c, $head, 4096, length $head);
    return unless $n;
  }
  open my $fh, '>>', $heads or die;
  print $fh $head;
  close $fh;
  my ($key) = $head =~ /^Sec-WebSocket-Key:\s*(\S+)/mi;
  my $accept = sha1_base64($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
  send_all($c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Accept: $accept\r\n\r\n");
  1 while sysread($c, my $buf, 65536);
});

my $server = <<"INI";
tls_cert = $dir/live.pem
tls_key = $dir/live.key
tls_client_ca = $dir/ca.pem
tls_verify_client = optional
tls_ticket_rotation = 2s
handshake_timeout = 3s
INI
my $routes = <<"INI";
[tls other]
names = other.example
cert = $dir/other.pem
key = $dir/other.key

[tls wild]
names = *.wild.example
cert = $dir/wild.pem
key = $dir/wild.key

[tls exact]
names = A.Wild.Example
cert = $dir/exact.pem
key = $dir/exact.key

[route echo]
path = /echo
backend = echo
type = text

[route proxy]
path = /proxy
backend = ws://127.0.0.1:${\ $backend->port }
INI

my $gw = wsgate($routes, tls => 1, server => $server);
my $port = $gw->port;

# openssl s_client against the gateway (or $p); returns its exit status and output.
sub s_client {
  my ($p, @args) = @_;
  return run_command(15, 'openssl', 's_client', '-connect', "127.0.0.1:$p", '-CAfile',
    "$dir/ca.pem", @args);
}

# The subject CN of the certificate the server shows for SNI $name (none: no SNI).
sub served_cn {
  my ($name, $p) = @_;
  my ($rc, $out) = s_client($p // $port, defined $name ? ('-servername', $name) : ('-noservername'));
  my ($cn) = $out =~ /^subject=.*CN\s*=\s*([^,\n]+)/m;
  return $cn // "none: $out";
}

# ---- SNI ----

is(served_cn('other.example'), 'other.example', 'SNI other.example: its [tls] certificate');
is(served_cn('OTHER.example'), 'other.example', 'SNI is compared without case');
is(served_cn('b.wild.example'), '*.wild.example', 'SNI b.wild.example: the wildcard');
is(served_cn('a.wild.example'), 'a.wild.example', 'an exact name beats the wildcard');
is(served_cn('x.b.wild.example'), 'localhost', 'a wildcard matches one label only: the default');
is(served_cn('wild.example'), 'localhost', '... and not the bare domain');
is(served_cn('unknown.example'), 'localhost', 'an unknown name gets [server] certificate');
is(served_cn(undef), 'localhost', 'no SNI: [server] certificate');
{
  my ($rc, $out) = s_client($port, '-servername', 'other.example', '-alpn', 'http/1.1',
    '-verify_hostname', 'other.example');
  like($out, qr{ALPN protocol: http/1\.1}, 'an SNI certificate keeps ALPN http/1.1');
  like($out, qr/Verify return code: 0 \(ok\)/, '... and verifies for its name');
}

# ---- session tickets and their rotation ----

# Connects with TLS 1.2, saving the session to $file (or resuming from it with $resume);
# returns (reused?, ticket key name in hex).
sub ticket_session {
  my ($file, $resume) = @_;
  my ($rc, $out) = s_client($port, '-tls1_2', '-servername', 'localhost',
    $resume ? ('-sess_in', $file) : ('-sess_out', $file));
  my ($name) = $out =~ /TLS session ticket:\s*\n\s*0000 - ((?:[0-9a-f]{2}[ -]){8})/;
  return ($out =~ /^Reused, /m ? 1 : 0, ($name // '') =~ s/[ -]//gr, $out);
}
{
  my ($reused, $key1, $out) = ticket_session("$dir/sess1");
  ok(!$reused && length $key1 == 16, 'a full handshake issues a session ticket') or diag $out;
  like($out, qr/ticket lifetime hint: 4 \(seconds\)/, '... good for two rotation periods');
  my $renewed;
  ($reused, $renewed) = ticket_session("$dir/sess1", 1);
  ok($reused, 'the ticket resumes the session');
  is(length $renewed, 16, '... and the resumed session gets a fresh ticket');
  my $t0 = time;
  sleep 4.5;
  ($reused) = ticket_session("$dir/sess1", 1);
  ok(!$reused, 'after two rotation periods the old ticket no longer resumes');
  my (undef, $key2) = ticket_session("$dir/sess2");
  ok(length $key2 == 16 && $key2 ne $key1, "a new ticket is made with a new key ($key1 -> $key2)");
}

# TLS 1.3 tickets that openssl s_client gets from the gateway on $p; stdin stays open a
# moment, as tickets come after the handshake.
sub tls13_tickets {
  my ($p, @args) = @_;
  my ($rc, $out) = run_command(15, 'sh', '-c', 'sleep 1 | "$@"', 'sh', 'openssl', 's_client',
    '-connect', "127.0.0.1:$p", '-CAfile', "$dir/ca.pem", '-servername', 'localhost', '-tls1_3',
    @args);
  my @t = $out =~ /^Post-Handshake New Session Ticket arrived:/mg;
  return (scalar @t, $out);
}
{
  my ($n, $out) = tls13_tickets($port, '-sess_out', "$dir/sess13");
  is($n, 1, 'a full TLS 1.3 handshake brings one ticket by default') or diag $out;
  ($n, $out) = tls13_tickets($port, '-sess_in', "$dir/sess13");
  like($out, qr/^Reused, /m, 'the TLS 1.3 ticket resumes the session');
  is($n, 1, '... and brings one fresh ticket') or diag $out;
  my $g3 = wsgate($routes, tls => 1, server => "$server\ntls_tickets_per_handshake = 3\n");
  ($n, $out) = tls13_tickets($g3->port);
  is($n, 3, 'tls_tickets_per_handshake = 3: three tickets') or diag $out;
}

# ---- client certificates ----

# A wss:// upgrade on $path with IO::Socket::SSL and %ssl options; returns the response or
# undef with $@ saying why.
sub tls_upgrade {
  my ($path, %ssl) = @_;
  my $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $port,
    SSL_ca_file => "$dir/ca.pem", SSL_hostname => 'localhost', Timeout => 5, %ssl)
    or return (undef, $IO::Socket::SSL::SSL_ERROR || $!);
  raw_upgrade($s, $path, 'X-SSL-Client-DN' => 'CN=spoofed', 'X-Ssl-Client-Verify' => 'SUCCESS');
  my $res = read_http_response($s, 5);
  return ($res, $s);
}

# The request heads the backend got, and forgets them.
sub backend_heads {
  wait_for(5, sub { -s $heads });
  my $text = slurp($heads) // '';
  unlink $heads;
  return $text;
}

{
  my ($res) = tls_upgrade('/proxy', SSL_cert_file => "$dir/alice.pem",
    SSL_key_file => "$dir/alice.key");
  is($res && $res->{status}, 101, 'a client with a certificate from tls_client_ca: 101');
  my $head = backend_heads();
  like($head, qr/^X-SSL-Client-Verify: SUCCESS\r$/m, 'the backend gets X-SSL-Client-Verify: SUCCESS');
  like($head, qr/^X-SSL-Client-DN: CN=alice,O=Example\r$/m, '... the subject DN (RFC 2253)');
  like($head, qr/^X-SSL-Client-SHA256: $alice_fp\r$/m, '... and the SHA-256 fingerprint');
  my @dn = $head =~ /^X-SSL-Client-DN:/mig;
  is(scalar @dn, 1, "the client's spoofed X-SSL-Client-DN is gone");
  unlike($head, qr/spoofed/, '... entirely');
}
{
  my ($res) = tls_upgrade('/proxy');
  is($res && $res->{status}, 101, 'optional: a client without a certificate: 101');
  my $head = backend_heads();
  like($head, qr/^X-SSL-Client-Verify: NONE\r$/m, '... and the backend learns it has none');
  unlike($head, qr/X-SSL-Client-DN|spoofed/i, '... with no DN, spoofed or not');
}
{
  my ($res, $why) = tls_upgrade('/proxy', SSL_cert_file => "$dir/mallory.pem",
    SSL_key_file => "$dir/mallory.key");
  ok(!$res || !$res->{status}, 'a certificate from another CA is refused');
  ok(wait_for(5, sub { $gw->log_text =~ /TLS handshake failed: certificate verify failed/ }),
    '... and the log says the certificate did not verify') or diag $gw->log_text;
}
{
  my $g2 = wsgate($routes, tls => 1,
    server => $server =~ s/optional/require/r . "tls_protocols = TLSv1.3\n");
  my $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $g2->port,
    SSL_ca_file => "$dir/ca.pem", SSL_hostname => 'localhost', Timeout => 5);
  my $refused = !$s || !(raw_upgrade($s, '/echo') && read_http_response($s, 5));
  ok($refused, 'require: a client without a certificate is refused');
  ok(wait_for(5, sub { $g2->log_text =~ /TLS handshake failed: the client sent no certificate/ }),
    '... and the log says so') or diag $g2->log_text;
  $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $g2->port,
    SSL_ca_file => "$dir/ca.pem", SSL_hostname => 'localhost', Timeout => 5,
    SSL_cert_file => "$dir/alice.pem", SSL_key_file => "$dir/alice.key");
  ok($s, 'require: a client with one gets through') or diag $IO::Socket::SSL::SSL_ERROR;
  my ($rc, $out) = s_client($g2->port, '-tls1_2', '-cert', "$dir/alice.pem", '-key',
    "$dir/alice.key");
  like($out, qr/alert protocol version/, 'tls_protocols = TLSv1.3 refuses TLS 1.2');
  unlike($out, qr/^New, TLSv1\.2/m, '... no TLS 1.2 session');
  ok(wait_for(5, sub { $g2->log_text =~ /TLS handshake failed: no shared TLS version/ }),
    '... and logs why') or diag $g2->log_text;
}

# ---- handshake failures are logged with their reason ----
{
  my $s = raw_connect($port);
  send_all($s, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  ok(tcp_closed($s, undef, 5), 'plain HTTP on the TLS port is closed');
  ok(wait_for(5, sub { $gw->log_text =~ /TLS handshake failed: plain HTTP on a TLS port/ }),
    '... and logged as such');
}

# ---- TLS in the access log, escaped ----
{
  my ($res) = tls_upgrade('/echo');
  is($res && $res->{status}, 101, 'wss:// echo');
  undef $res;
  s_client($port, '-servername', 'q"x.example');
  ok(wait_for(5, sub { $gw->log_text =~ m{"/echo" route=echo .* tls=TLSv1\.3 sni=localhost$}m }),
    'the access log shows the TLS version and SNI name') or diag $gw->log_text;
  ok(wait_for(5, sub { $gw->log_text =~ m{tls=TLSv1\.3 sni=q\\x22x\.example$}m }),
    '... escaped: a quote in SNI cannot break the line') or diag $gw->log_text;
}

# ---- SIGHUP reloads certificates; open connections carry on ----
{
  my ($res, $s) = tls_upgrade('/echo');
  is($res && $res->{status}, 101, 'a connection open across the reloads');
  my $buf = $res ? $res->{rest} : '';
  my $echo = sub {
    my $text = shift;
    send_all($s, client_frame(1, $text));
    my $f = read_frame($s, 5, \$buf);
    return $f ? $f->{payload} : undef;
  };
  is($echo->('before'), 'before', '... exchanges before');
  copy("$dir/renewed.pem", "$dir/live.pem") or die;
  copy("$dir/renewed.key", "$dir/live.key") or die;
  kill 'HUP', $gw->pid;
  ok(wait_for(5, sub { $gw->log_text =~ /SIGHUP: reloaded/ }), 'SIGHUP: reloaded')
    or diag $gw->log_text;
  is(served_cn('localhost'), 'renewed.example', 'new handshakes get the new certificate');
  is(served_cn('other.example'), 'other.example', '... and SNI still works');
  is($echo->('after'), 'after', 'the open connection still exchanges');

  open my $fh, '>', "$dir/live.pem" or die;
  print $fh "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n";
  close $fh;
  kill 'HUP', $gw->pid;
  ok(wait_for(5, sub { $gw->log_text =~ /SIGHUP: reload failed/ }), 'a broken certificate: reload fails')
    or diag $gw->log_text;
  like($gw->log_text, qr{wsgate\.ini:\d+: cannot load the certificate chain \Q$dir\E/live\.pem},
    '... naming FILE:LINE and the file');
  is(served_cn('localhost'), 'renewed.example', '... and the certificate in use stays');
  is($echo->('still'), 'still', 'the open connection still exchanges');
  ok(kill(0, $gw->pid), 'wsgate is still running');

  copy("$dir/srv.pem", "$dir/live.pem") or die;
  copy("$dir/other.key", "$dir/live.key") or die;
  kill 'HUP', $gw->pid;
  ok(wait_for(5, sub { $gw->log_text =~ /does not match the certificate/ }),
    'a key that does not match: reload fails, saying so') or diag $gw->log_text;
  is(served_cn('localhost'), 'renewed.example', '... and the certificate in use stays');
}

# ---- config errors ----
{
  my $conf = "$dir/bad.ini";
  open my $fh, '>', $conf or die;
  print $fh "[server]\nlisten = 127.0.0.1:1 tls\ntls_cert = $dir/srv.pem\ntls_key = $dir/srv.key\n",
    "[tls other]\nnames = other.example\ncert = $dir/other.pem\nkey = $dir/srv.key\n",
    "[route e]\npath = /e\nbackend = echo\n";
  close $fh;
  my ($rc, $out) = run_command(10, $WsgateTest::BIN, '-t', '-c', $conf);
  isnt($rc, 0, 'wsgate -t: a [tls] key that does not match its certificate is an error');
  like($out, qr{^\Q$conf\E:5: \[tls other\]: the private key \S+ does not match}m,
    '... naming the [tls] section line') or diag $out;
}

done_testing;
