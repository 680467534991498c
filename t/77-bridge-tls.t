# tls:// bridges and client certificates toward backends. A throwaway PKI (test_pki: a CA, a
# server certificate for localhost/127.0.0.1/::1, one for the wrong name, a self-signed one, a
# client certificate, and a second CA); python3 ssl echo servers that log the SNI and the client
# certificate they saw, some requiring one; openssl s_server requiring one (TLS 1.2 and 1.3),
# for its alerts; a python3-websockets server over TLS requiring a client certificate. Checks
# text and binary echo through tls:// with python3-websockets, SNI, every verify failure as a
# 502 with the reason in the log, tls_verify = off, the client certificate on tls:// and wss://
# routes, refusals without one, and the config errors for tls_client_cert/key.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::IP;
use JSON::PP;
use Time::HiRes qw(sleep time);
use WsgateTest;

my $PY = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with websockets'
  unless -x $PY && system($PY, '-c', 'import websockets') == 0;
plan skip_all => 'needs the openssl command'
  unless system('openssl version >/dev/null 2>&1') == 0;

my $T0 = time;
my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->utf8->canonical;
my $have_v6 = IO::Socket::IP->new(Listen => 1, LocalHost => '::1', LocalPort => 0) ? 1 : 0;

# ---- a throwaway PKI, and a second CA that signed none of it ----

test_pki($dir, good => 'DNS:localhost,IP:127.0.0.1,IP:::1', wrong => 'DNS:other.example',
  self => ['DNS:localhost,IP:127.0.0.1', 'self'], client => 'DNS:wsgate-client');
mkdir "$dir/other" or die;
test_pki("$dir/other");
ok(-s "$dir/$_.pem", "PKI: $_.pem made") for qw(ca good wrong self client other/ca);
open my $junk, '>', "$dir/junk.pem" or die;
print $junk "this is not a key\n";
close $junk;

# ---- the backends ----
#
# backend.py LOG CA SPEC...: SPEC is NAME,KIND,HOST,PORT,CERT,CLIENT,MAXVER. KIND raw echoes
# bytes over TLS; KIND ws is a websockets server that answers "whoami" with the client
# certificate's CN and echoes anything else. CLIENT is none or require (a client certificate
# from CA); MAXVER is 1.2 or any. Each connection accepted appends to LOG a JSON line
# {name, sni, peer_cn, version}.
my $backend_py = <<'PY';
import asyncio, json, os, ssl, sys
import websockets

log_path, ca = sys.argv[1], sys.argv[2]
sni = {}

def remember_sni(sslobj, name, ctx):
    sni[id(sslobj)] = name

def peer_cn(cert):
    for rdn in (cert or {}).get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return None

def record(name, transport):
    sslobj = transport.get_extra_info("ssl_object")
    cn = peer_cn(transport.get_extra_info("peercert"))
    with open(log_path, "a") as f:
        f.write(json.dumps({"name": name, "sni": sni.get(id(sslobj)), "peer_cn": cn,
                            "version": sslobj.version()}) + "\n")
    return cn

def raw_handler(name):
    async def handle(reader, writer):
        record(name, writer.transport)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        writer.close()
    return handle

def ws_handler(name):
    async def handle(ws, path):
        cn = record(name, ws.transport)
        try:
            async for msg in ws:
                await ws.send(str(cn) if msg == "whoami" else msg)
        except websockets.ConnectionClosed:
            pass
    return handle

async def orphan_guard(parent):
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(0)

async def main():
    servers = []
    for spec in sys.argv[3:]:
        name, kind, host, port, cert, client, maxver = spec.split(",")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert + ".pem", cert + ".key")
        ctx.sni_callback = remember_sni
        if client == "require":
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(ca)
        if maxver == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if kind == "raw":
            servers.append(await asyncio.start_server(raw_handler(name), host, int(port), ssl=ctx))
        else:
            servers.append(await websockets.serve(ws_handler(name), host, int(port), ssl=ctx,
                                                  max_size=None, ping_interval=None))
    await orphan_guard(int(os.environ["WSGATE_TEST_PARENT"]))

asyncio.run(main())
PY

my @specs = (
  [good => raw => '127.0.0.1', 'good', 'none', 'any'],
  [wrong => raw => '127.0.0.1', 'wrong', 'none', 'any'],
  [self => raw => '127.0.0.1', 'self', 'none', 'any'],
  [mtls => raw => '127.0.0.1', 'good', 'require', 'any'],
  [mtls12 => raw => '127.0.0.1', 'good', 'require', '1.2'],
  [wsmtls => ws => '127.0.0.1', 'good', 'require', 'any'],
  ($have_v6 ? ([v6 => raw => '::1', 'good', 'none', 'any']) : ()),
);
my %port = map { $_->[0] => empty_port() } @specs;
my $seen_log = "$dir/seen.log";
local $ENV{WSGATE_TEST_PARENT} = $$;
my $servers = start_program([$PY, '-c', $backend_py, $seen_log, "$dir/ca.pem",
  map { my ($n, $k, $h, $c, $cl, $v) = @$_; "$n,$k,$h,$port{$n},$dir/$c,$cl,$v" } @specs],
  out => "$dir/server.log");

# True once HOST:PORT accepts a TCP connection.
sub port_open {
  my ($host, $port) = @_;
  return IO::Socket::IP->new(PeerHost => $host, PeerPort => $port, Proto => 'tcp') ? 1 : 0;
}
ok(wait_for(15, sub { !grep { !port_open($_->[2], $port{ $_->[0] }) } @specs }),
  'the TLS backends listen')
  or BAIL_OUT("backends did not start:\n" . (slurp("$dir/server.log") // ''));

# openssl s_server requiring a client certificate from the CA, for the refusals: unlike
# python's asyncio it sends the alert that says why.
my %s_server;
for my $v (qw(tls1_2 tls1_3)) {
  $port{"s_$v"} = empty_port();
  $s_server{$v} = start_program(['openssl', 's_server', '-accept', "127.0.0.1:$port{\"s_$v\"}",
    '-cert', "$dir/good.pem", '-key', "$dir/good.key", '-CAfile', "$dir/ca.pem", '-Verify', '1',
    "-$v", '-ign_eof', '-quiet'], port => $port{"s_$v"}, out => "$dir/s_server_$v.log");
}

# The JSON lines the backends logged, for backend $name.
sub seen {
  my ($name) = @_;
  my @all = map { $json->decode($_) } grep { length } split /\n/, (slurp($seen_log) // '');
  return grep { $_->{name} eq $name } @all;
}

# ---- a client: python3-websockets ----
#
# client.py URL KIND:N ...: for each, sends one message of N bytes (binary) or N characters
# (text) and collects what comes back until it adds up (a bridge may split it); prints JSON
# {echo: {"KIND N": true, ...}, messages: {"KIND N": count}, close_code} or {status}.
my $client_py = <<'PY';
import asyncio, json, sys
import websockets

url, cases = sys.argv[1], sys.argv[2:]

def text(n):
    unit = "tls \u00e9\u20ac\U0001F510 "
    return (unit * (n // len(unit) + 1))[:n]

def binary(n):
    return bytes((i * 13 + n) & 0xFF for i in range(256)) * (n // 256) + bytes(n % 256)

async def main():
    out = {"echo": {}, "messages": {}}
    try:
        async with websockets.connect(url, max_size=None, ping_interval=None,
                                      close_timeout=2) as ws:
            for case in cases:
                kind, n = case.split(":")
                data = text(int(n)) if kind == "text" else binary(int(n))
                await ws.send(data)
                back, count = data[:0], 0
                while len(back) < len(data):
                    piece = await ws.recv()
                    if type(piece) != type(data):
                        break
                    back += piece
                    count += 1
                out["echo"]["%s %s" % (kind, n)] = back == data
                out["messages"]["%s %s" % (kind, n)] = count
        out["close_code"] = ws.close_code
    except websockets.InvalidStatusCode as e:
        out["status"] = e.status_code
    print(json.dumps(out))

asyncio.run(asyncio.wait_for(main(), 30))
PY

sub python_client {
  my ($url, @cases) = @_;
  open(my $ph, '-|', 'timeout', '35', $PY, '-c', $client_py, $url, @cases) or die "python3: $!";
  local $/;
  my $out = <$ph>;
  close $ph;
  return eval { $json->decode($out) } // { error => $out // '' };
}

# ---- the gateway ----

my $ca = "$dir/ca.pem";
my $client_id = "tls_client_cert = $dir/client.pem\ntls_client_key = $dir/client.key";
my $ini = <<"INI";
[route bin]
path = /bin
backend = tls://127.0.0.1:$port{good}
tls_ca = $ca

[route text]
path = /text
backend = tls://localhost:$port{good}
tls_ca = $ca
type = text

[route other-ca]
path = /other-ca
backend = tls://127.0.0.1:$port{good}
tls_ca = $dir/other/ca.pem

[route system]
path = /system
backend = tls://localhost:$port{good}

[route wrong-name]
path = /wrong-name
backend = tls://localhost:$port{wrong}
tls_ca = $ca

[route wrong-ip]
path = /wrong-ip
backend = tls://127.0.0.1:$port{wrong}
tls_ca = $ca

[route noverify]
path = /noverify
backend = tls://localhost:$port{wrong}
tls_verify = off

[route noverify-self]
path = /noverify-self
backend = tls://127.0.0.1:$port{self}
tls_verify = off

[route mtls]
path = /mtls
backend = tls://localhost:$port{mtls}
tls_ca = $ca
$client_id

[route s12-none]
path = /s12-none
backend = tls://localhost:$port{s_tls1_2}
tls_ca = $ca

[route s13-none]
path = /s13-none
backend = tls://localhost:$port{s_tls1_3}
tls_ca = $ca

[route mtls12]
path = /mtls12
backend = tls://localhost:$port{mtls12}
tls_ca = $ca
$client_id

[route mtls12-none]
path = /mtls12-none
backend = tls://localhost:$port{mtls12}
tls_ca = $ca

[route mtls13-none]
path = /mtls13-none
backend = tls://localhost:$port{mtls}
tls_ca = $ca

[route ws-mtls]
path = /ws-mtls
backend = wss://localhost:$port{wsmtls}
tls_ca = $ca
$client_id

[route ws-mtls-none]
path = /ws-mtls-none
backend = wss://localhost:$port{wsmtls}
tls_ca = $ca

[route plain]
path = /plain
backend = tls://127.0.0.1:@{[ my $p = empty_port() ]}
tls_ca = $ca
INI
$ini .= "\n[route v6]\npath = /v6\nbackend = tls://[::1]:$port{v6}\ntls_ca = $ca\n" if $have_v6;
my $gw = wsgate($ini);
my $gport = $gw->port;

# ---- echo through tls:// ----

{
  my @cases = map { "binary:$_" } 1, 125, 65536, 200000;
  my $r = python_client("ws://127.0.0.1:$gport/bin", @cases);
  ok(!$r->{status} && !$r->{error}, 'tls:// by IP: the session opens') or diag explain $r;
  for my $n (1, 125, 65536, 200000) {
    ok($r->{echo}{"binary $n"}, "tls:// by IP: $n bytes of binary echo back whole");
  }
  is($r->{close_code}, 1000, 'tls:// by IP: closes with 1000');
  my @s = seen('good');
  is($s[-1]{sni}, undef, 'tls:// by IP: no SNI for an IP literal');
  is($s[-1]{peer_cn}, undef, 'tls:// without tls_client_cert: no client certificate');
}
{
  my $r = python_client("ws://127.0.0.1:$gport/text", map { "text:$_" } 1, 300, 70000);
  ok(!$r->{status} && !$r->{error}, 'tls:// by name, type = text: the session opens')
    or diag explain $r;
  ok($r->{echo}{"text $_"}, "tls:// by name: $_ characters of text echo back whole")
    for 1, 300, 70000;
  my @s = seen('good');
  is($s[-1]{sni}, 'localhost', 'tls:// by name: the backend saw SNI localhost');
  like($s[-1]{version}, qr/^TLSv1\.[23]$/, "tls:// by name: TLS 1.2 or later ($s[-1]{version})");
}
SKIP: {
  skip 'no IPv6 loopback', 2 unless $have_v6;
  my $r = python_client("ws://127.0.0.1:$gport/v6", 'binary:70000');
  ok($r->{echo}{'binary 70000'}, 'tls://[::1]: binary echo') or diag explain $r;
  my @s = seen('v6');
  is($s[-1]{sni}, undef, 'tls://[::1]: no SNI for an IPv6 literal');
}

# ---- refusals: 502, the reason in the log ----

# The first log line about $path, or ''.
sub log_line {
  my ($path) = @_;
  my ($line) = grep { index($_, "\"$path\"") >= 0 } split /\n/, $gw->log_text;
  return $line // '';
}

sub refused {
  my ($path, $log_re, $name) = @_;
  my $t = time;
  my ($s, $buf, $res) = ws_open($gport, $path);
  is($res && $res->{status}, 502, "$name: HTTP 502, no 101");
  ok(time - $t < 5, "$name: answered within 5 s");
  ok(tcp_closed($s, $buf, 5), "$name: the client connection is closed");
  my $line = wait_for(3, sub { log_line($path) });
  like($line, $log_re, "$name: the log says why") or diag $gw->log_text;
  note "log: $line";
}

refused('/other-ca', qr/502.*certificate verify failed \(unable to get local issuer certificate\)/,
  'tls_ca is another CA');
refused('/system', qr/502.*certificate verify failed/, 'test CA certificate, system CAs');
refused('/wrong-name', qr/502.*certificate verify failed \(hostname mismatch\)/,
  'name mismatch, backend by name');
refused('/wrong-ip', qr/502.*certificate verify failed \(IP address mismatch\)/,
  'name mismatch, backend by IP');
refused('/plain', qr/502.*unreachable: Connection refused/, 'nothing listens');
refused('/s12-none', qr/502.*TLS: .*alert handshake failure/i,
  'TLS 1.2 s_server that requires a client certificate, none configured');
refused('/mtls12-none', qr/502.*TLS: /,
  'TLS 1.2 python backend that requires a client certificate, none configured');
# Python's ssl server hangs up on a TLS 1.3 client without a certificate with no alert: all
# wsgate sees is the connection closing before the backend answered.
refused('/ws-mtls-none', qr/502.*backend (?:connection failed|closed the connection) instead of answering/,
  'wss:// backend that requires a client certificate, none configured');
ok(!seen('mtls12'), 'the TLS 1.2 backend accepted no connection without a client certificate');
ok(!seen('wsmtls'), 'the wss:// backend accepted no connection without a client certificate');

# TLS 1.3 ends the client's handshake before the server has judged its certificate, so on a
# bridge the refusal arrives after the 101: the client is then closed with 1011, and the log
# names the alert.
# Python's server sends no alert, only a TCP close without close_notify, which a bridge treats
# as plain TCP's: the end of the stream, close 1000. If our first record reached it before it
# hung up, its kernel answers with a reset instead, a failure: 1011, as for s_server's alert.
for my $case (['/s13-none', qr/alert certificate required/, 's_server', qr/^1011$/, '1011'],
  ['/mtls13-none', qr/route=mtls13-none .*close=10(?:00|11) /, 'python', qr/^10(?:00|11)$/,
  '1000 or 1011']) {
  my ($path, $why, $what, $want, $codes) = @$case;
  my ($s, $buf, $res) = ws_open($gport, $path);
  my $st = $res && $res->{status};
  if ($st && $st == 101) {
    send_all($s, client_frame(2, 'anyone there?'));
    my ($code) = read_until_close($s, 5, $buf);
    like($code // 'none', $want, "TLS 1.3 $what backend requiring a client certificate, none "
      . "configured: 101, then close $codes");
    send_all($s, client_frame(8, pack("n", $code // 1000)));
    close $s;  # the session ends, and is logged
  } else {
    is($st, 502, "TLS 1.3 $what backend requiring a client certificate, none configured: 502");
  }
  # Any of the path's lines: with a reset, an info line naming it comes before the access log's.
  my $line = wait_for(3, sub {
    (grep { index($_, "\"$path\"") >= 0 && $_ =~ $why } split /\n/, $gw->log_text)[0] // '';
  });
  ok($line, "TLS 1.3 $what backend requiring a client certificate: the log says why")
    or diag $gw->log_text;
  note "log: $line";
}
ok(!seen('mtls'), 'the TLS 1.3 backend accepted no connection without a client certificate');

# ---- tls_verify = off ----

for my $case (['/noverify', 'wrong-name certificate'], ['/noverify-self', 'self-signed']) {
  my ($path, $what) = @$case;
  my $r = python_client("ws://127.0.0.1:$gport$path", 'binary:5', 'binary:70000');
  ok($r->{echo}{'binary 5'} && $r->{echo}{'binary 70000'},
    "tls_verify = off, $what: connects and echoes") or diag explain $r;
}
is((seen('wrong'))[-1]{sni}, 'localhost', 'tls_verify = off still sends SNI');

# ---- client certificates ----

for my $case (['/mtls', 'mtls', 'TLS 1.3'], ['/mtls12', 'mtls12', 'TLS 1.2']) {
  my ($path, $name, $what) = @$case;
  my $r = python_client("ws://127.0.0.1:$gport$path", 'binary:100', 'binary:70000');
  ok($r->{echo}{'binary 100'} && $r->{echo}{'binary 70000'},
    "tls_client_cert, $what backend requiring one: echo") or diag explain $r;
  my @s = seen($name);
  is($s[-1]{peer_cn}, 'wsgate-client', "tls_client_cert, $what: the backend saw wsgate's certificate");
}
{
  my ($s, $buf, $res) = ws_open($gport, '/ws-mtls');
  is($res && $res->{status}, 101, 'wss:// with tls_client_cert: 101');
  send_all($s, client_frame(1, 'whoami'));
  my $f = read_frame($s, 5, $buf);
  is($f && $f->{payload}, 'wsgate-client',
    'wss:// with tls_client_cert: the websockets backend saw the client certificate');
  send_all($s, client_frame(8, pack('n', 1000)));
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1000, 'wss:// with tls_client_cert: close 1000 comes back');
}

ok($gw->pid && kill(0, $gw->pid), 'wsgate is still running');
is($gw->stop('TERM', 10), 0, 'wsgate exits 0 on SIGTERM');
ok($servers->alive, 'the backends are still running');

# ---- configuration checks (wsgate -t) ----

my $route = "[route r]\npath = /r\nbackend = tls://localhost:7443\n";
my @config_cases = (
  ["$route$client_id\n", 0, undef, undef, 'a tls:// route with a client certificate and key'],
  ["[route r]\npath = /r\nbackend = wss://localhost\n$client_id\n", 0, undef, undef,
    'a wss:// route with a client certificate and key'],
  ["${route}tls_client_cert = $dir/client.pem\ntls_client_key = $dir/good.key\n", 1,
    qr/^tls_client_key = /, qr/does not match the certificate .*client\.pem.*set tls_client_key/,
    'a tls_client_key that does not match'],
  ["${route}tls_client_cert = $dir/client.pem\n", 1, qr/^tls_client_cert = /,
    qr/tls_client_cert and tls_client_key go together; set tls_client_key/,
    'tls_client_cert alone'],
  ["${route}tls_client_key = $dir/client.key\n", 1, qr/^tls_client_key = /,
    qr/set tls_client_cert as well/, 'tls_client_key alone'],
  ["${route}tls_client_cert = $dir/nonexistent.pem\ntls_client_key = $dir/client.key\n", 1,
    qr/^tls_client_cert = /, qr/cannot load the certificate chain .*nonexistent\.pem/,
    'a missing tls_client_cert file'],
  ["${route}tls_client_cert = $dir/client.pem\ntls_client_key = $dir/junk.pem\n", 1,
    qr/^tls_client_key = /, qr/cannot load the private key .*junk\.pem.*unencrypted PEM key/,
    'a tls_client_key that is not a PEM key'],
  ["[route r]\npath = /r\nbackend = tcp://127.0.0.1:7000\n$client_id\n", 1,
    qr/^tls_client_(cert|key) = /, qr/only applies to tls:\/\/ and wss:\/\//,
    'a client certificate on a tcp:// route'],
  ["[route r]\npath = /r\nbackend = ws://127.0.0.1:7000\ntls_ca = $ca\n", 1, qr/^tls_ca = /,
    qr/sets tls_ca, which only applies to tls:\/\/ and wss:\/\//, 'tls_ca on a ws:// route'],
  ["[route r]\npath = /r\nbackend = tls://127.0.0.1\n", 1, qr/^backend = /,
    qr/write tls:\/\/HOST:PORT/, 'a tls:// backend without a port'],
);
for my $c (@config_cases) {
  my ($text, $fails, $line_re, $msg_re, $name) = @$c;
  my ($st, $out) = check_config($text);
  if (!$fails) {
    is($st, 0, "-t: $name is ok") or diag $out;
    next;
  }
  isnt($st, 0, "-t: $name fails");
  like($out, $msg_re, "-t: $name: the error says why and what to do") or diag $out;
  like(named_line($out) // '', $line_re, "-t: $name: FILE:LINE is the offending line")
    or diag $out;
}

my $elapsed = time - $T0;
ok($elapsed < 60, sprintf('the whole file ran in %.1f s', $elapsed));

done_testing;
