# The peers of the ws:// proxy tests (t/70-proxy.t, t/71-proxy-lifecycle.t): a python3-websockets
# server as the backend and an unmodified python3-websockets client, with the raw-client helpers
# that talk to the server's commands.
package PyProxyPeers;

use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use JSON::PP;
use WsgateTest;

our @EXPORT = qw(PY py_ready backend py_client frame_with ask headers_of close_payload raw_close);

use constant PY => '/usr/bin/python3';

my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->utf8->canonical;

# Whether python3 with websockets is there to run the peers.
sub py_ready { -x PY && system(PY, '-c', 'import websockets') == 0 }

# ---- the backend: a websockets server ----
#
# Echoes every message. A text message starting with "!" is a command:
#   !headers          reply with JSON {path, headers: [[name, value], ...]} of the upgrade request
#   !frames           reply with JSON [[opcode, fin, length], ...] of the data frames read so far
#   !close CODE TEXT  close with that code and reason
#   !ping DATA        send a ping
#   !frag A,B,C       send one text message as fragments A, B, C
#   !flood N          send N binary messages of 64 KiB
#   !reset            drop the TCP connection with a reset, no close frame
# Events go to a JSON-lines log: open (path, headers, subprotocol, extensions), pong (path, data)
# and closed (path, code, reason: the close frame it received, 1006 for none).
my $server_py = <<'PY';
import asyncio, http, json, os, socket, struct, sys
import websockets
from websockets.datastructures import Headers
from websockets.legacy.server import WebSocketServerProtocol

port, logfile = int(sys.argv[1]), sys.argv[2]
opts = sys.argv[3:]
compression = None if "--no-deflate" in opts else "deflate"

def log(ev):
    with open(logfile, "a") as f:
        f.write(json.dumps(ev) + "\n")

class Proto(WebSocketServerProtocol):
    async def read_frame(self, max_size):
        fr = await super().read_frame(max_size)
        if fr.opcode == 0xA:
            log({"ev": "pong", "path": self.path, "data": fr.data.decode("latin-1")})
        if fr.opcode in (0, 1, 2) and hasattr(self, "frames"):
            self.frames.append([int(fr.opcode), bool(fr.fin), len(fr.data)])
        return fr

async def process_request(path, headers):
    if "refuse" in path:
        return (http.HTTPStatus.FORBIDDEN, Headers([("Content-Type", "text/plain"), ("X-Backend", "refused")]),
                b"backend says no\n")
    return None

async def handler(ws, path):
    ws.frames = []
    hdrs = [[k, v] for k, v in ws.request_headers.raw_items()]
    log({"ev": "open", "path": path, "headers": hdrs, "subprotocol": ws.subprotocol,
         "extensions": ws.response_headers.get("Sec-WebSocket-Extensions")})
    try:
        async for msg in ws:
            if isinstance(msg, str) and msg.startswith("!"):
                cmd, _, arg = msg[1:].partition(" ")
                if cmd == "headers":
                    await ws.send(json.dumps({"path": path, "headers": hdrs}))
                elif cmd == "frames":
                    await ws.send(json.dumps(ws.frames[:-1]))
                    ws.frames = []
                elif cmd == "close":
                    code, _, reason = arg.partition(" ")
                    await ws.close(int(code), reason)
                elif cmd == "ping":
                    await ws.ping(arg.encode())
                elif cmd == "frag":
                    await ws.send(iter(arg.split(",")))
                elif cmd == "flood":
                    chunk = b"\xab" * 65536
                    for _ in range(int(arg)):
                        await ws.send(chunk)
                elif cmd == "reset":
                    sock = ws.transport.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    ws.transport.abort()
                else:
                    await ws.send(msg)
            else:
                await ws.send(msg)
    except Exception:
        pass
    await ws.wait_closed()
    log({"ev": "closed", "path": path, "code": ws.close_code, "reason": ws.close_reason})

async def main():
    async with websockets.serve(handler, "127.0.0.1", port, create_protocol=Proto,
                                process_request=process_request,
                                subprotocols=["chat", "superchat"], max_size=None,
                                extra_headers=[("Set-Cookie", "sid=from-backend")],
                                compression=compression, ping_interval=None, close_timeout=2):
        await asyncio.Future()

asyncio.run(main())
PY

# ---- a client: websockets, unmodified ----
#
# client.py URL JSON-options; prints JSON {subprotocol, extensions, results, close_code}.
# Options: protocols, compression (null for none), echo: [[kind, size], ...], headers.
my $client_py = <<'PY';
import asyncio, json, sys
import websockets

url, o = sys.argv[1], json.loads(sys.argv[2])

def payload(kind, n):
    if kind == "text":
        unit = "a\u00e9\u20ac\U0001F600 websocket text "
        return (unit * (n // len(unit) + 1))[:n]
    return bytes((i * 7 + n) & 0xFF for i in range(min(n, 4096))) * (n // 4096 + 1) if n else b""

async def main():
    out = {"results": []}
    kw = dict(max_size=None, ping_interval=None, close_timeout=2,
              compression=o.get("compression", None))
    if o.get("protocols"):
        kw["subprotocols"] = o["protocols"]
    try:
        async with websockets.connect(url, **kw) as ws:
            out["subprotocol"] = ws.subprotocol
            out["extensions"] = [type(e).__name__ for e in ws.extensions]
            out["ext_header"] = ws.response_headers.get("Sec-WebSocket-Extensions")
            for kind, n in o.get("echo", []):
                msg = payload(kind, n)
                if kind == "binary":
                    msg = msg[:n]
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 20)
                out["results"].append([kind, n, got == msg, len(got)])
            await ws.close(1000, "done")
        out["close_code"] = ws.close_code
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out))

asyncio.run(main())
PY

# server.py and client.py into this module's directory, once.
my $written;
sub write_scripts {
  return if $written++;
  for (['server.py', $server_py], ['client.py', $client_py]) {
    open my $fh, '>', "$dir/$_->[0]" or die "$_->[0]: $!";
    print $fh $_->[1];
    close $fh;
  }
}

# Starts server.py on a free port; the handle kills it when it goes out of scope.
sub backend {
  my ($name, @opts) = @_;
  write_scripts();
  my $port = empty_port();
  my $log = "$dir/$name.events";
  my $proc = start_program([PY, "$dir/server.py", $port, $log, @opts], port => $port,
    out => "$dir/$name.out");
  return bless { proc => $proc, port => $port, log => $log, name => $name }, 'PyBackend';
}

sub PyBackend::url { "ws://127.0.0.1:$_[0]{port}" . ($_[1] // '') }

sub PyBackend::events {
  my ($self) = @_;
  my $text = slurp($self->{log}) // '';
  return map { $json->decode($_) } grep { length } split /\n/, $text;
}

# Waits for an event of kind $ev whose path contains $tag; returns it or undef.
sub PyBackend::event {
  my ($self, $ev, $tag, $secs) = @_;
  my $found;
  wait_for($secs // 5, sub {
    ($found) = grep { $_->{ev} eq $ev && index($_->{path}, $tag) >= 0 } $self->events;
    $found;
  });
  return $found;
}

sub PyBackend::kill { $_[0]{proc}->kill($_[1]) }

# Runs client.py; returns its JSON result.
sub py_client {
  my ($url, %o) = @_;
  write_scripts();
  my $arg = $json->encode(\%o);
  open my $fh, '-|', PY, "$dir/client.py", $url, $arg or die "client: $!";
  local $/;
  my $out = <$fh>;
  close $fh;
  my $r = eval { $json->decode($out) };
  return $r || { error => "bad client output: " . ($out // '') };
}

# Reads frames up to the first one with $opcode; returns it (undef on EOF/timeout) and the
# frames before it.
sub frame_with {
  my ($s, $buf, $opcode, $secs) = @_;
  my @before;
  while (my $f = read_frame($s, $secs // 5, $buf)) {
    return ($f, \@before) if $f->{opcode} == $opcode;
    push @before, $f;
  }
  return (undef, \@before);
}

# Sends one text message from a raw client and returns the text of the reply.
sub ask {
  my ($s, $buf, $text) = @_;
  send_all($s, client_frame(1, $text));
  my ($f) = frame_with($s, $buf, 1);
  return $f ? $f->{payload} : undef;
}

sub headers_of {
  my ($list) = @_;
  my %h;
  for (@$list) { push @{ $h{lc $_->[0]} }, $_->[1] }
  return \%h;
}

sub close_payload { pack('n', $_[0]) . ($_[1] // '') }

# Raw client closes: sends a close with $code, reads to the server's close.
sub raw_close {
  my ($s, $buf, $code) = @_;
  send_all($s, client_frame(8, close_payload($code // 1000)));
  return read_until_close($s, 5, $buf);
}

1;
