# A real browser over wss://: Debian's chromium, headless, driven over the DevTools protocol with
# Mojo::UserAgent. JavaScript on about:blank opens new WebSocket('wss://...') to a TLS listener
# with a throwaway CA's certificate (trusted by its SPKI hash, not the CA), echoes UTF-8 text and
# binary messages of 70000 bytes and 1 MiB, keeps message order, bridges both types to a tcp://
# echo backend, and closes with the code it chose. The same page on a plain listener beside it
# is the control for the close timing. A second wsgate whose certificate Chromium was not told to
# trust must fail, which shows the browser really verifies the certificate.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use WsgateMojo;
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);
use WsgateTest;

my $CHROMIUM = '/usr/bin/chromium';
plan skip_all => "needs $CHROMIUM (Debian package chromium; tools/install-deps --test installs it)"
  unless -x $CHROMIUM;
plan skip_all => 'needs the openssl command'
  unless system('openssl version >/dev/null 2>&1') == 0;

my $T0 = time;
# Ctrl-C or a TERM from prove still runs the destructors that stop Chromium and wsgate.
$SIG{INT} = $SIG{TERM} = sub { exit 1 };
my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->utf8->canonical;

# ---- helpers ----

# The base64 SHA-256 of a certificate's SubjectPublicKeyInfo: what Chromium's
# --ignore-certificate-errors-spki-list takes.
sub spki_hash {
  my ($pem) = @_;
  my ($rc, $out) = run_command(30, 'sh', '-c',
    "openssl x509 -in '$pem' -pubkey -noout | openssl pkey -pubin -outform der"
    . ' | openssl dgst -sha256 -binary | base64');
  die "spki hash of $pem failed:\n$out" if $rc;
  $out =~ s/\s+//g;
  return $out;
}

# Starts headless Chromium in its own process group, trusting the certificates whose SPKI hashes
# are in @spki; returns a handle with the DevTools port that kills the whole group when dropped.
sub start_chromium {
  my (@spki) = @_;
  my $profile = tempdir(CLEANUP => 1);
  my $log = "$profile/chromium.log";
  my $pid = fork // die "fork: $!";
  if ($pid == 0) {
    setpgrp(0, 0);
    # Crash reports and caches go to the throwaway profile, not the user's home.
    $ENV{HOME} = $profile;
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', $log or POSIX::_exit(127);
    open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
    exec $CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', "--user-data-dir=$profile", '--remote-debugging-port=0',
      (@spki ? ('--ignore-certificate-errors-spki-list=' . join(',', @spki)) : ()), 'about:blank'
      or POSIX::_exit(127);
  }
  my $self = bless { pid => $pid, log => $log }, 'ChromiumGuard';
  # Chromium writes the port it picked to DevToolsActivePort once DevTools listens.
  my $port = wait_for(30, sub {
    my $f = slurp("$profile/DevToolsActivePort") // return 0;
    return $f =~ /^(\d+)\n/ ? $1 : 0;
  });
  die "chromium did not start DevTools:\n" . (slurp($log) // '') unless $port;
  $self->{port} = $port;
  return $self;
}

# Connects to the about:blank page's DevTools WebSocket; returns a handle for evaluate().
sub devtools_page {
  my ($chromium) = @_;
  my $ua = Mojo::UserAgent->new(connect_timeout => 10, inactivity_timeout => 60);
  my $list = "http://127.0.0.1:$chromium->{port}/json/list";
  my $page = wait_for(20, sub {
    my $res = eval { $ua->get($list)->result };
    return undef unless $res && $res->is_success;
    my ($p) = grep { $_->{type} eq 'page' && $_->{url} eq 'about:blank' } @{ $res->json };
    return $p;
  });
  die "no about:blank page in $list" unless $page;
  my $dt = { replies => {}, next_id => 1 };
  $ua->websocket($page->{webSocketDebuggerUrl} => sub {
    my (undef, $tx) = @_;
    unless ($tx->is_websocket) {
      $dt->{failed} = $tx->res->code // 'no websocket';
      return;
    }
    $tx->on(json => sub {
      my (undef, $msg) = @_;
      $dt->{replies}{ $msg->{id} } = $msg if defined $msg->{id};
    });
    $tx->on(finish => sub { $dt->{finished} = 1 });
    $dt->{tx} = $tx;
  });
  run_until(20, sub { $dt->{tx} || $dt->{failed} });
  die "DevTools WebSocket failed: " . ($dt->{failed} // 'timeout') unless $dt->{tx};
  $dt->{ua} = $ua;
  return $dt;
}

# Runs the JavaScript function source $fn with the JSON-able $arg in the page, waits for the
# promise it returns, and returns its JSON-decoded string value; or { error => ... }.
sub evaluate {
  my ($dt, $fn, $arg, $secs) = @_;
  my $id = $dt->{next_id}++;
  my $expr = "($fn)(" . JSON::PP->new->ascii->encode($arg) . ').then(r => JSON.stringify(r))';
  $dt->{tx}->send({ json => { id => $id, method => 'Runtime.evaluate',
    params => { expression => $expr, awaitPromise => JSON::PP::true,
                returnByValue => JSON::PP::true } } });
  run_until($secs // 30, sub { $dt->{replies}{$id} || $dt->{finished} });
  my $reply = delete $dt->{replies}{$id} or return { error => 'no DevTools reply' };
  return { error => 'DevTools: ' . $json->encode($reply->{error}) } if $reply->{error};
  my $r = $reply->{result};
  return { error => 'exception: ' . $json->encode($r->{exceptionDetails}) }
    if $r->{exceptionDetails};
  return JSON::PP->new->allow_nonref->decode($r->{result}{value});
}

# ---- the page's JavaScript ----

# A WebSocket session run by the browser. arg: { url, text: [strings], binary: [sizes],
# bridge: 0/1, close_code (default 1000) }. Echo routes answer each message alone; with bridge,
# the backend's byte stream may come back cut anywhere, so replies are joined until the sent
# length is back. Returns what came back, checked in JS where it is large.
my $SESSION_JS = <<'JS';
async function (arg) {
  const r = { steps: [] };
  const deadline = new Promise(res => setTimeout(() => res('timeout'), 20000));
  const ws = new WebSocket(arg.url);
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  let wake = null;
  ws.onmessage = e => { inbox.push(e.data); if (wake) wake(); };
  const closed = new Promise(res => {
    ws.onclose = e => {
      r.close = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      res('closed');
    };
  });
  ws.onerror = () => { r.error_event = true; };
  const next = async () => {
    while (!inbox.length) {
      const got = await Promise.race([new Promise(res => { wake = res; }), closed, deadline]);
      if (got === 'timeout' || (got === 'closed' && !inbox.length)) return got;
    }
    return inbox.shift();
  };
  const open = new Promise(res => { ws.onopen = () => res('open'); });
  const opened = await Promise.race([open, closed, deadline]);
  r.opened = opened === 'open';
  if (!r.opened) return r;
  r.protocol = ws.protocol;
  r.extensions = ws.extensions;
  // Not periodic in 256, so a shifted or repeated chunk shows up as mismatches.
  const pattern = n => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 255;
    return b;
  };
  // Text: all sent first, then read back, so order is checked too.
  for (const t of arg.text) ws.send(t);
  const want = arg.text.join('');
  let got = '';
  const kinds = [];
  while (arg.bridge ? got.length < want.length : kinds.length < arg.text.length) {
    const m = await next();
    if (m === 'timeout' || m === 'closed') { r.steps.push('text: ' + m); break; }
    kinds.push(typeof m);
    got += typeof m === 'string' ? m : '[binary ' + m.byteLength + ']';
  }
  r.text = { ok: got === want, got_length: got.length, want_length: want.length,
             all_strings: kinds.every(k => k === 'string'), messages: kinds.length,
             got };
  r.binary = [];
  for (const n of arg.binary) {
    const sent = pattern(n);
    ws.send(sent.buffer);
    const parts = [];
    let len = 0, messages = 0, all_binary = true;
    while (arg.bridge ? len < n : messages < 1) {
      const m = await next();
      if (m === 'timeout' || m === 'closed') { r.steps.push('binary ' + n + ': ' + m); break; }
      messages++;
      if (!(m instanceof ArrayBuffer)) { all_binary = false; continue; }
      parts.push(new Uint8Array(m));
      len += m.byteLength;
    }
    let mismatches = 0, off = 0;
    for (const p of parts)
      for (let i = 0; i < p.length; i++, off++) if (p[i] !== sent[off]) mismatches++;
    r.binary.push({ size: n, got_length: len, messages, all_binary, mismatches });
  }
  const t_close = performance.now();
  ws.close(arg.close_code || 1000, 'bye');
  const end = await Promise.race([closed, deadline]);
  r.close_ms = Math.round(performance.now() - t_close);
  if (end === 'timeout') r.steps.push('close: timeout');
  return r;
}
JS

# ---- the setup: a PKI, wsgate with echo and tcp:// bridge routes, a Chromium ----

test_pki($dir, srv => 'DNS:localhost,IP:127.0.0.1', untrusted => 'DNS:localhost,IP:127.0.0.1');
my $spki = spki_hash("$dir/srv.pem");
like($spki, qr{^[A-Za-z0-9+/]{43}=$}, 'SPKI SHA-256 of the server certificate computed');

my $backend = tcp_echo_server();
my $routes = <<"INI";
[route echo]
path = /echo
backend = echo

[route bridge-text]
path = /bridge-text
backend = @{[$backend->backend]}
type = text

[route bridge-binary]
path = /bridge-binary
backend = @{[$backend->backend]}
type = binary
INI
my $plain = empty_port();
my $gw = wsgate($routes, tls => 1,
  server => "tls_cert = $dir/srv.pem\ntls_key = $dir/srv.key\nlisten = 127.0.0.1:$plain\n");
my $port = $gw->port;

my $chromium = start_chromium($spki);
my $dt = devtools_page($chromium);
ok($dt->{tx}, "DevTools connected to Chromium's about:blank page");

my $version = evaluate($dt, 'async () => navigator.userAgent', undef);
like(ref $version ? '' : $version, qr/HeadlessChrome\/\d+/, "it is headless Chromium ($version)");

# Two-, three- and four-byte UTF-8 (the last a surrogate pair in JS), and distinct messages so
# that a reordering shows.
my @texts = ('hello from chromium',
  "UTF-8: h\x{e9}llo w\x{f6}rld \x{20ac} \x{65e5}\x{672c} \x{1f600}",
  (map { "#$_ " . ('x' x 200) } 1 .. 3), 'last');

# ---- echo route: each message back as it was sent ----
{
  my $r = evaluate($dt, $SESSION_JS,
    { url => "wss://127.0.0.1:$port/echo", text => \@texts, binary => [70000, 1 << 20] });
  ok($r->{opened}, 'echo: the wss:// WebSocket opened in Chromium') or diag explain $r;
  is($r->{protocol}, '', 'echo: no subprotocol');
  is($r->{extensions}, '', "echo: Chromium's permessage-deflate offer is declined");
  ok($r->{text}{ok}, 'echo: text messages (with non-ASCII UTF-8) come back equal and in order')
    or diag explain $r->{text};
  is($r->{text}{got}, join('', @texts), 'echo: ... and equal to what Perl sent the page');
  is($r->{text}{messages}, scalar @texts, 'echo: one reply per text message');
  ok($r->{text}{all_strings}, 'echo: text comes back as text');
  my @b = @{ $r->{binary} || [] };
  for my $i (0, 1) {
    my $n = (70000, 1 << 20)[$i];
    my $b = $b[$i] || {};
    is($b->{got_length}, $n, "echo: binary $n bytes come back whole");
    ok($b->{all_binary} && $b->{messages} == 1, "echo: ... as one binary message (ArrayBuffer)");
    is($b->{mismatches}, 0, "echo: ... byte for byte");
  }
  # wsgate echoes the code (RFC 6455 section 5.5.1) and not the reason.
  is_deeply($r->{close}, { code => 1000, reason => '', wasClean => JSON::PP::true },
    "echo: ws.close(1000, 'bye') is answered with 1000, a clean close");
  is_deeply($r->{steps}, [], 'echo: no step timed out');
  # wsgate ends the TLS connection first (close_notify, then FIN), as RFC 6455 7.1.1 wants.
  ok($r->{close_ms} < 1500, "echo: the close handshake is over promptly ($r->{close_ms} ms)");
}

# ---- the same page over ws:// on a plain listener beside the tls one ----
{
  my $r = evaluate($dt, $SESSION_JS,
    { url => "ws://127.0.0.1:$plain/echo", text => \@texts, binary => [70000] });
  ok($r->{opened} && $r->{text}{ok} && ($r->{binary}[0] || {})->{mismatches} == 0,
    'ws:// beside wss://: text and binary echoed') or diag explain $r;
  is(($r->{close} || {})->{code}, 1000, 'ws:// beside wss://: closed with 1000');
  ok(defined $r->{close_ms} && $r->{close_ms} < 1500,
    "ws:// beside wss://: the close handshake is over promptly ($r->{close_ms} ms)");
}

# ---- tcp:// bridges: the backend sees bytes, Chromium gets them back as messages ----
{
  my $r = evaluate($dt, $SESSION_JS,
    { url => "wss://127.0.0.1:$port/bridge-text", text => \@texts, binary => [], bridge => 1 });
  ok($r->{opened}, 'bridge type=text: opened');
  ok($r->{text}{ok}, 'bridge type=text: the UTF-8 text comes back whole, in order')
    or diag explain $r->{text};
  is($r->{text}{got}, join('', @texts), 'bridge type=text: ... and equal to what Perl sent');
  ok($r->{text}{all_strings}, 'bridge type=text: as text messages');
  is(($r->{close} || {})->{code}, 1000, 'bridge type=text: closed with 1000');
  is_deeply($r->{steps}, [], 'bridge type=text: no step timed out');
}
{
  my $r = evaluate($dt, $SESSION_JS,
    { url => "wss://127.0.0.1:$port/bridge-binary", text => [], binary => [70000], bridge => 1,
      close_code => 4321 });
  ok($r->{opened}, 'bridge type=binary: opened');
  my $b = ($r->{binary} || [])->[0] || {};
  is($b->{got_length}, 70000, 'bridge type=binary: 70000 bytes come back');
  ok($b->{all_binary}, 'bridge type=binary: as binary messages') or diag explain $b;
  is($b->{mismatches}, 0, 'bridge type=binary: byte for byte');
  is(($r->{close} || {})->{code}, 4321, "bridge type=binary: ws.close(4321) gets 4321 back");
  ok(($r->{close} || {})->{wasClean}, 'bridge type=binary: a clean close');
  is_deeply($r->{steps}, [], 'bridge type=binary: no step timed out');
}

# ---- a certificate Chromium was not told to trust: the connection must fail ----
{
  my $g2 = wsgate($routes, tls => 1,
    server => "tls_cert = $dir/untrusted.pem\ntls_key = $dir/untrusted.key\n");
  my $r = evaluate($dt, $SESSION_JS,
    { url => 'wss://127.0.0.1:' . $g2->port . '/echo', text => ['x'], binary => [] });
  ok(!$r->{opened}, 'untrusted certificate: the WebSocket never opens') or diag explain $r;
  is(($r->{close} || {})->{code}, 1006, 'untrusted certificate: Chromium reports 1006');
  ok($r->{error_event}, 'untrusted certificate: with an error event');
  ok(wait_for(5, sub { $g2->log_text =~ /TLS handshake failed: .*certificate/ }),
    "untrusted certificate: wsgate logs the handshake Chromium refused")
    or diag $g2->log_text;
}

ok(time - $T0 < 60, sprintf('the whole file ran in under 60 s (%.1f s)', time - $T0));
done_testing;

package ChromiumGuard;

# Stops Chromium's whole process group (browser, zygotes, renderers): TERM, then KILL.
sub DESTROY {
  my $self = shift;
  return unless $self->{pid};
  local ($?, $!);
  kill 'TERM', -$self->{pid};
  my $deadline = Time::HiRes::time() + 5;
  while (Time::HiRes::time() < $deadline) {
    last if waitpid($self->{pid}, POSIX::WNOHANG()) == $self->{pid};
    Time::HiRes::sleep(0.05);
  }
  kill 'KILL', -$self->{pid};
  waitpid($self->{pid}, 0);
  $self->{pid} = 0;
}
