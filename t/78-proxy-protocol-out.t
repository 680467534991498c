# Outgoing PROXY protocol headers (proxy_protocol = v1 | v2 on a route). Strict python3
# backends parse the header off the raw socket, record it, then pass the rest of the stream on
# to an inner echo server: plain TCP, TLS, a python3-websockets server and one over TLS, so
# the header is seen to come before the upgrade request and before the TLS ClientHello.
# Clients connect from 127.0.0.9, so the source is told apart from wsgate's own 127.0.0.1.
# Routes: tcp:// v1 and v2, unix: v2, ws:// v1, tls:// and wss:// v2 reached over a TLS
# listener (AUTHORITY = the SNI, the SSL TLV, and with a verified client certificate its CN and
# the DN TLV 0xE0). Debian's haproxy with accept-proxy is an independent consumer: its log
# shows the client's address and, for v2 over TLS, the SNI. Plus the config errors.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::SSL qw(SSL_VERIFY_NONE);
use JSON::PP;
use WsgateTest;

my $PY = '/usr/bin/python3';
plan skip_all => 'needs /usr/bin/python3 with websockets'
  unless -x $PY && system($PY, '-c', 'import websockets') == 0;
plan skip_all => 'needs the openssl command'
  unless system('openssl version >/dev/null 2>&1') == 0;
plan skip_all => 'needs 127.0.0.9 as a source address'
  unless IO::Socket::INET->new(LocalAddr => '127.0.0.9', Listen => 1);

my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->utf8->canonical;
my $SRC = '127.0.0.9';

# ---- a throwaway PKI: wsgate's and the backends' certificate, and alice's client one ----

test_pki($dir, srv => 'DNS:localhost,IP:127.0.0.1');
{
  my ($rc, $out) = run_command(60, 'openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', "$dir/alice.key", '-out',
    "$dir/alice.csr", '-subj', '/O=Example Org/CN=alice');
  ($rc, $out) = run_command(60, 'openssl', 'x509', '-req', '-in', "$dir/alice.csr", '-CA',
    "$dir/ca.pem", '-CAkey', "$dir/ca.key", '-CAcreateserial', '-out', "$dir/alice.pem",
    '-days', '2') unless $rc;
  die "alice's certificate: $out" if $rc;
}

# ---- the strict PROXY backends ----
#
# front.py LOG CERT PORTS SPEC...: SPEC is NAME,tcp-or-unix:PATH,INNER; a tcp front binds a
# port of its own choosing (bound here, not picked earlier by the test, so no other socket can
# take it in between), and once all are up PORTS gets {NAME: port} as JSON. Each connection's PROXY
# header is parsed strictly (v1 or v2, any defect is an error) and appended to LOG as a JSON
# line; the rest of the stream goes both ways to INNER: echo (TCP), tlsecho (TLS with CERT),
# ws or wss (python3-websockets echo servers).
my $front_py = <<'PY';
import asyncio, ipaddress, json, os, re, ssl, struct, sys
import websockets

log_path, cert, ports_path = sys.argv[1], sys.argv[2], sys.argv[3]
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
V1 = re.compile(rb"PROXY (TCP4|TCP6) (\S+) (\S+) (0|[1-9][0-9]{0,4}) (0|[1-9][0-9]{0,4})\r\n")

def tlvs(data):
    out = []
    while data:
        if len(data) < 3:
            raise ValueError("truncated TLV")
        t, n = data[0], struct.unpack(">H", data[1:3])[0]
        if len(data) < 3 + n:
            raise ValueError("TLV 0x%02x longer than the header" % t)
        out.append((t, data[3:3 + n]))
        data = data[3 + n:]
    return out

async def read_header(reader):
    first = await reader.readexactly(5)
    if first == b"PROXY":
        line = first
        while not line.endswith(b"\r\n"):
            if len(line) >= 107:
                raise ValueError("v1 line longer than 107 bytes")
            line += await reader.readexactly(1)
        if line == b"PROXY UNKNOWN\r\n":
            return {"version": 1, "family": "UNKNOWN"}
        m = V1.fullmatch(line)
        if not m:
            raise ValueError("bad v1 line %r" % line)
        fam, src, dst, sp, dp = (x.decode() for x in m.groups())
        ver = 4 if fam == "TCP4" else 6
        for a in (src, dst):
            if ipaddress.ip_address(a).version != ver or str(ipaddress.ip_address(a)) != a:
                raise ValueError("bad %s address %s" % (fam, a))
        if int(sp) > 65535 or int(dp) > 65535:
            raise ValueError("bad port")
        return {"version": 1, "family": fam, "src": src, "dst": dst, "sport": int(sp),
                "dport": int(dp)}
    head = first + await reader.readexactly(7)
    if head != SIG:
        raise ValueError("no PROXY signature: %r" % head)
    vc, fam, n = struct.unpack(">BBH", await reader.readexactly(4))
    if vc != 0x21:
        raise ValueError("version/command 0x%02x" % vc)
    body = await reader.readexactly(n)
    rec = {"version": 2}
    if fam == 0x11:
        alen, rec["family"] = 4, "TCP4"
    elif fam == 0x21:
        alen, rec["family"] = 16, "TCP6"
    elif fam == 0x00:
        alen, rec["family"] = 0, "UNSPEC"
    else:
        raise ValueError("family 0x%02x" % fam)
    if alen:
        if n < 2 * alen + 4:
            raise ValueError("short address block")
        rec["src"] = str(ipaddress.ip_address(body[:alen]))
        rec["dst"] = str(ipaddress.ip_address(body[alen:2 * alen]))
        rec["sport"], rec["dport"] = struct.unpack(">HH", body[2 * alen:2 * alen + 4])
        body = body[2 * alen + 4:]
    rec["tlvs"] = []
    for t, v in tlvs(body):
        rec["tlvs"].append("%02x" % t)
        if t == 0x02:
            rec["authority"] = v.decode()
        elif t == 0x20:
            if len(v) < 5:
                raise ValueError("short SSL TLV")
            rec["ssl_client"], rec["ssl_verify"] = struct.unpack(">BI", v[:5])
            for st, sv in tlvs(v[5:]):
                rec["tlvs"].append("20.%02x" % st)
                if st == 0x21:
                    rec["ssl_version"] = sv.decode()
                elif st == 0x22:
                    rec["ssl_cn"] = sv.decode()
        elif t == 0xE0:
            rec["dn"] = v.decode()
    return rec

async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass

def front(name, inner):
    async def handle(reader, writer):
        try:
            rec = await read_header(reader)
        except (ValueError, asyncio.IncompleteReadError) as e:
            rec = {"error": str(e)}
        rec["name"] = name
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if "error" in rec:
            writer.close()
            return
        ir, iw = await asyncio.open_connection("127.0.0.1", inner[0])
        await asyncio.gather(pipe(reader, iw), pipe(ir, writer))
        writer.close()
        iw.close()
    return handle

async def echo(reader, writer):
    await pipe(reader, writer)
    writer.close()

async def ws_echo(ws, path=None):
    try:
        async for msg in ws:
            await ws.send(msg)
    except websockets.ConnectionClosed:
        pass

async def orphan_guard(parent):
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(0)

async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert + ".pem", cert + ".key")
    inner = {}
    for kind, tls in (("echo", None), ("tlsecho", ctx)):
        s = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=tls)
        inner[kind] = s.sockets[0].getsockname()[1:2]
    for kind, tls in (("ws", None), ("wss", ctx)):
        s = await websockets.serve(ws_echo, "127.0.0.1", 0, ssl=tls, ping_interval=None)
        inner[kind] = list(s.sockets)[0].getsockname()[1:2]
    ports = {}
    for spec in sys.argv[4:]:
        name, where, kind = spec.split(",")
        h = front(name, inner[kind])
        if where.startswith("unix:"):
            await asyncio.start_unix_server(h, where[5:])
        else:
            s = await asyncio.start_server(h, "127.0.0.1", 0)
            ports[name] = s.sockets[0].getsockname()[1]
    with open(ports_path + ".tmp", "w") as f:
        json.dump(ports, f)
    os.rename(ports_path + ".tmp", ports_path)
    await orphan_guard(int(os.environ["WSGATE_TEST_PARENT"]))

asyncio.run(main())
PY

my $sock = "$dir/pp.sock";
my $seen = "$dir/seen.log";
my $ports = "$dir/fronts.json";
local $ENV{WSGATE_TEST_PARENT} = $$;
my $fronts = start_program([$PY, '-c', $front_py, $seen, "$dir/srv", $ports,
  "tcp1,tcp,echo", "tcp2,tcp,echo", "unix2,unix:$sock,echo", "ws1,tcp,ws",
  "tls2,tcp,tlsecho", "wss2,tcp,wss", "tcp2tls,tcp,echo"],
  out => "$dir/front.out");
ok(wait_for(10, sub { -s $ports && -S $sock }), 'the backends are up')
  or die 'front.py did not come up: ' . (slurp("$dir/front.out") // '');
my %port = %{ decode_json(slurp($ports)) };

# ---- haproxy, accept-proxy, in front of an echo server ----

my $echo = tcp_echo_server();
my $ha_port = empty_port();
my ($ha, $ha_log);
if (-x '/usr/sbin/haproxy') {
  $ha_log = "$dir/haproxy.log";
  open my $fh, '>', "$dir/haproxy.cfg" or die;
  print $fh <<"CFG";
global
  log stdout format raw local0
defaults
  mode tcp
  log global
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend pp
  bind 127.0.0.1:$ha_port accept-proxy
  log-format "haproxy-pp src=%[src] sport=%[src_port] dst=%[dst] dport=%[dst_port] authority=%[fc_pp_authority]"
  default_backend echo
backend echo
  server e 127.0.0.1:${\ $echo->port }
CFG
  close $fh;
  $ha = start_program(['/usr/sbin/haproxy', '-db', '-f', "$dir/haproxy.cfg"], out => $ha_log,
    port => $ha_port);
}

# ---- wsgate: a plain listener and a TLS one asking for optional client certificates ----

my $tls_port = empty_port();
my $g = wsgate(<<"INI", server => <<"SRV");
[route tcp1]
path = /tcp1
backend = tcp://127.0.0.1:$port{tcp1}
proxy_protocol = v1

[route tcp2]
path = /tcp2
backend = tcp://127.0.0.1:$port{tcp2}
proxy_protocol = v2

[route unix2]
path = /unix2
backend = unix:$sock
proxy_protocol = v2

[route ws1]
path = /ws1
backend = ws://127.0.0.1:$port{ws1}
proxy_protocol = v1

[route tls2]
path = /tls2
backend = tls://127.0.0.1:$port{tls2}
tls_ca = $dir/ca.pem
proxy_protocol = v2

[route wss2]
path = /wss2
backend = wss://127.0.0.1:$port{wss2}
tls_ca = $dir/ca.pem
proxy_protocol = v2

[route tcp2tls]
path = /tcp2tls
backend = tcp://127.0.0.1:$port{tcp2tls}
proxy_protocol = v2

[route ha1]
path = /ha1
backend = tcp://127.0.0.1:$ha_port
proxy_protocol = v1

[route ha2]
path = /ha2
backend = tcp://127.0.0.1:$ha_port
proxy_protocol = v2
INI
listen = 127.0.0.1:$tls_port tls
tls_cert = $dir/srv.pem
tls_key = $dir/srv.key
tls_client_ca = $dir/ca.pem
tls_verify_client = optional
SRV

# Connects from $SRC (over TLS with %o: sni, cert), upgrades on $path, sends a message and
# expects it back, then closes; returns the client's port, or undef with a failed test.
sub round_trip {
  my ($path, %o) = @_;
  my $s;
  if ($o{tls}) {
    $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $tls_port, LocalAddr => $SRC,
      SSL_verify_mode => SSL_VERIFY_NONE, SSL_hostname => $o{sni}, Timeout => 5,
      ($o{cert} ? (SSL_cert_file => "$dir/$o{cert}.pem", SSL_key_file => "$dir/$o{cert}.key")
        : ()));
  } else {
    $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $g->port, LocalAddr => $SRC,
      Proto => 'tcp', Timeout => 5);
  }
  unless ($s) {
    fail("$path: connect: " . ($IO::Socket::SSL::SSL_ERROR || $!));
    return undef;
  }
  binmode $s;
  my $cport = $s->sockport;
  raw_upgrade($s, $path);
  my $res = read_http_response($s, 10);
  is($res && $res->{status}, 101, "$path: 101") or return undef;
  my $buf = $res->{rest};
  send_all($s, client_frame(2, "hello $path"));
  my $f = read_frame($s, 10, \$buf);
  is($f && $f->{payload}, "hello $path", "$path: the message comes back through the backend");
  send_all($s, client_frame(8, pack('n', 1000)));
  read_until_close($s, 5, \$buf);
  close $s;
  return $cport;
}

# The record the backend NAME made of its latest connection.
sub record_of {
  my ($name) = @_;
  my $rec;
  wait_for(10, sub {
    for (split /\n/, slurp($seen) // '') {
      my $r = $json->decode($_);
      $rec = $r if $r->{name} eq $name;
    }
    $rec;
  });
  return $rec // {};
}

# Source, destination and ports of a record: the client's, and wsgate's listener's.
sub check_addresses {
  my ($rec, $what, $cport, $dport, $family) = @_;
  is($rec->{error}, undef, "$what: the header parses strictly");
  is($rec->{family}, $family // 'TCP4', "$what: family");
  is($rec->{src}, $SRC, "$what: source is the client's address");
  is($rec->{sport}, $cport, "$what: source port is the client's");
  is($rec->{dst}, '127.0.0.1', "$what: destination is wsgate's listen address");
  is($rec->{dport}, $dport, "$what: destination port is the listener's");
}

# ---- plain listener ----

{
  my $c = round_trip('/tcp1');
  my $r = record_of('tcp1');
  is($r->{version}, 1, 'tcp:// v1: a v1 line');
  check_addresses($r, 'tcp:// v1', $c, $g->port);
}
{
  my $c = round_trip('/tcp2');
  my $r = record_of('tcp2');
  is($r->{version}, 2, 'tcp:// v2: a v2 header');
  check_addresses($r, 'tcp:// v2', $c, $g->port);
  is_deeply($r->{tlvs}, [], 'tcp:// v2 from a plain client: no TLVs');
}
{
  my $c = round_trip('/unix2');
  my $r = record_of('unix2');
  is($r->{version}, 2, 'unix: v2: a v2 header');
  check_addresses($r, 'unix: v2 (client over TCP)', $c, $g->port);
}
{
  my $c = round_trip('/ws1');
  my $r = record_of('ws1');
  is($r->{version}, 1, 'ws:// v1: a v1 line, then the upgrade the websockets server accepted');
  check_addresses($r, 'ws:// v1', $c, $g->port);
}

# ---- TLS listener ----

{
  my $c = round_trip('/tls2', tls => 1, sni => 'app.test.example');
  my $r = record_of('tls2');
  check_addresses($r, 'tls:// v2 without a client certificate', $c, $tls_port);
  is($r->{authority}, 'app.test.example', '... AUTHORITY is the SNI the client sent');
  is($r->{ssl_client}, 1, '... SSL TLV: client flags PP2_CLIENT_SSL only');
  isnt($r->{ssl_verify}, 0, '... verify is not 0 without a certificate');
  like($r->{ssl_version} // '', qr/^TLSv1\.[23]$/, "... the TLS version ($r->{ssl_version})");
  is($r->{ssl_cn}, undef, '... no CN');
  is($r->{dn}, undef, '... no DN TLV');
  is_deeply($r->{tlvs}, ['02', '20', '20.21'], '... and no other TLV');
}
{
  my $c = round_trip('/tls2', tls => 1, sni => 'app.test.example', cert => 'alice');
  my $r = record_of('tls2');
  check_addresses($r, 'tls:// v2 with a client certificate', $c, $tls_port);
  is($r->{authority}, 'app.test.example', '... AUTHORITY is the SNI');
  is($r->{ssl_client}, 7, '... client flags SSL, CERT_CONN and CERT_SESS');
  is($r->{ssl_verify}, 0, '... verify 0: the certificate verified');
  is($r->{ssl_cn}, 'alice', "... the CN of the certificate's subject");
  is($r->{dn}, 'CN=alice,O=Example Org', '... the RFC 2253 DN in TLV 0xE0');
}
{
  my $c = round_trip('/wss2', tls => 1, sni => 'wss.test.example', cert => 'alice');
  my $r = record_of('wss2');
  check_addresses($r, 'wss:// v2 with a client certificate', $c, $tls_port);
  is($r->{authority}, 'wss.test.example', '... AUTHORITY is the SNI');
  is($r->{ssl_cn}, 'alice', '... the CN');
  is($r->{dn}, 'CN=alice,O=Example Org', '... the DN');
}
{
  my $c = round_trip('/tcp2tls', tls => 1);
  my $r = record_of('tcp2tls');
  check_addresses($r, 'tcp:// v2, a TLS client without SNI', $c, $tls_port);
  is($r->{authority}, undef, '... no AUTHORITY without SNI');
  is_deeply($r->{tlvs}, ['20', '20.21'], '... only the SSL TLV with the version');
}

# ---- haproxy reads them too ----

SKIP: {
  skip 'needs /usr/sbin/haproxy', 4 unless $ha;
  my $c1 = round_trip('/ha1');
  my $c2 = round_trip('/ha2', tls => 1, sni => 'ha.test.example');
  my ($l1, $l2);
  wait_for(10, sub {
    my $log = slurp($ha_log) // '';
    ($l1) = $log =~ /^(haproxy-pp src=\Q$SRC\E sport=$c1 .*)$/m if $c1;
    ($l2) = $log =~ /^(haproxy-pp src=\Q$SRC\E sport=$c2 .*)$/m if $c2;
    $l1 && $l2;
  });
  like($l1 // '', qr/ dst=127\.0\.0\.1 dport=${\ $g->port } authority=-$/,
    "haproxy (accept-proxy) logs the client's address from a v1 header: $l1");
  like($l2 // '', qr/ dst=127\.0\.0\.1 dport=$tls_port authority=ha\.test\.example$/,
    "haproxy logs the client's address and the SNI from a v2 header: $l2");
}

# ---- config ----

{
  my ($rc, $out) = check_config("[route e]\npath = /e\nbackend = echo\nproxy_protocol = v2\n");
  isnt($rc, 0, 'proxy_protocol on an echo route is refused');
  like($out, qr/built-in echo.*proxy_protocol = off/, '... saying what to do');
  like(named_line($out) // '', qr/^proxy_protocol = v2$/, '... at its line');
  ($rc, $out) = check_config("[route t]\npath = /t\nbackend = tcp://127.0.0.1:9\n" .
    "proxy_protocol = v3\n");
  like($out, qr/bad proxy_protocol "v3"; write off, v1 or v2/, 'an unknown version is refused');
}

is(scalar(grep { /"error"/ } split /\n/, slurp($seen) // ''), 0,
  'no backend saw a malformed header');

done_testing;
