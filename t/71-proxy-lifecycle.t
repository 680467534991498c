# ws:// proxy mode, the lifecycle, against python3-websockets (t/lib/PyProxyPeers.pm):
# idle_timeout, ping_interval, protocol errors, a side that vanishes, a slow client under a
# flooding backend, misbehaving backends on raw sockets, and SIGTERM with a session open.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use PyProxyPeers;
use WsgateTest;

plan skip_all => 'needs /usr/bin/python3 with websockets' unless py_ready();

my $T0 = time;
my $dir = tempdir(CLEANUP => 1);

# ---- backend and gateway ----

my $py = backend('main');

my $ini = <<"INI";
[route root]
path = /root/*
backend = ${\ $py->url }

[route idle]
path = /idle/*
backend = ${\ $py->url }
idle_timeout = 1s

[route keepalive]
path = /ka/*
backend = ${\ $py->url }
ping_interval = 500ms

[route small]
path = /small/*
backend = ${\ $py->url }
max_message_size = 1k
INI

my $gw = wsgate($ini);
my $port = $gw->port;
my $tag = 0;
sub tag { my $p = shift; $p . '?t=' . ++$tag }

# ---- idle_timeout ----
{
  my $path = tag('/idle/x');
  my ($s, $buf, $res) = ws_open($port, $path);
  is($res && $res->{status}, 101, 'idle route: 101');
  is(ask($s, $buf, 'still here'), 'still here', 'echo before going idle');
  my $t = time;
  my ($code) = read_until_close($s, 5, $buf);
  my $took = time - $t;
  is($code, 1001, 'idle_timeout = 1s: the client gets close 1001');
  ok($took > 0.7 && $took < 3, sprintf('after about a second (%.2fs)', $took));
  my $ev = $py->event('closed', $path);
  is($ev && $ev->{code}, 1001, 'and the backend gets close 1001');
}

# ---- ping_interval ----
{
  my $path = tag('/ka/x');
  my ($s, $buf, $res) = ws_open($port, $path);
  is($res && $res->{status}, 101, 'keepalive route: 101');
  my @pings;
  my $deadline = time + 1.3;
  while (time < $deadline) {
    my $f = read_frame($s, $deadline - time, $buf) or last;
    next unless $f->{opcode} == 9;
    push @pings, $f->{payload};
    send_all($s, client_frame(10, $f->{payload}));
  }
  ok(@pings >= 2, 'ping_interval = 500ms: the client gets wsgate\'s pings (' . @pings . ')');
  send_all($s, client_frame(10, 'unsolicited'));
  is(ask($s, $buf, 'alive?'), 'alive?', 'the session stays open when they are answered');
  my $ev = $py->event('pong', $path);
  is($ev && $ev->{data}, 'unsolicited', "the client's own pong reaches the backend");
  my @wsgate_pongs = grep { $_->{ev} eq 'pong' && index($_->{path}, $path) >= 0
      && $_->{data} ne 'unsolicited' } $py->events;
  is(scalar @wsgate_pongs, 0, "but pongs to wsgate's pings do not") or diag explain \@wsgate_pongs;
  raw_close($s, $buf);
}

{
  my $path = tag('/ka/silent');
  my ($s, $buf) = ws_open($port, $path);
  my ($code, undef, $frames) = read_until_close($s, 3, $buf);
  is($code, 1001, 'ping_interval = 500ms, pings not answered: the client gets 1001');
  ok((grep { $_->{opcode} == 9 } @$frames), 'after a ping');
  my $ev = $py->event('closed', $path);
  is($ev && $ev->{code}, 1001, 'and the backend gets close 1001');
}

{
  # Frames sent right behind the upgrade request are relayed once the backend has switched.
  my $s = raw_connect($port);
  raw_upgrade($s, tag('/root/pipelined'), -extra => client_frame(1, 'early bird'));
  my $res = read_http_response($s, 5);
  is($res && $res->{status}, 101, 'upgrade with a frame right behind it: 101');
  my $buf = $res ? $res->{rest} : '';
  my ($f) = frame_with($s, \$buf, 1);
  is($f && $f->{payload}, 'early bird', 'and the frame is relayed');
  raw_close($s, \$buf);
}

# ---- protocol errors ----
{
  my $path = tag('/root/unmasked');
  my ($s, $buf) = ws_open($port, $path);
  send_all($s, client_frame(1, 'no mask', unmasked => 1));
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1002, 'an unmasked client frame: the client gets 1002');
  my $ev = $py->event('closed', $path);
  ok($ev && $ev->{code} != 1006, 'and the backend gets a close frame (' . ($ev && $ev->{code}) . ')');

  $path = tag('/small/x');
  ($s, $buf) = ws_open($port, $path);
  is(ask($s, $buf, 'x' x 1024), 'x' x 1024, 'max_message_size = 1k: 1 KiB passes');
  send_all($s, client_frame(2, 'y' x 1025));
  ($code) = read_until_close($s, 5, $buf);
  is($code, 1009, 'a 1025-byte message: 1009');
  $ev = $py->event('closed', $path);
  ok($ev && $ev->{code} != 1006, 'and the backend gets a close frame');
}

# ---- one side vanishes ----
{
  my $path = tag('/root/vanish');
  my ($s, $buf) = ws_open($port, $path);
  is(ask($s, $buf, 'hi'), 'hi', 'client that will vanish: echo');
  close $s;
  my $ev = $py->event('closed', $path);
  is($ev && $ev->{code}, 1001, 'client vanishes: the backend gets close 1001');

  $path = tag('/root/reset');
  ($s, $buf) = ws_open($port, $path);
  send_all($s, client_frame(1, '!reset'));
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1011, 'backend resets the TCP connection: the client gets 1011');
  ok(tcp_closed($s, $buf), 'then the connection closes');

  my $doomed = backend('doomed');
  my $g2 = wsgate("[route r]\npath = /*\nbackend = ${\ $doomed->url }\n");
  ($s, $buf) = ws_open($g2->port, '/kill');
  is(ask($s, $buf, 'hi'), 'hi', 'backend to be killed: echo');
  $doomed->kill('KILL');
  ($code) = read_until_close($s, 5, $buf);
  ok(defined $code && ($code == 1001 || $code == 1011),
    'backend process killed: the client gets 1001 or 1011 (' . ($code // 'none') . ')');
  ok(tcp_closed($s, $buf), 'then the connection closes');
  is($g2->stop('TERM'), 0, 'that wsgate stops cleanly');
}

# ---- slow client, flooding backend ----
{
  my ($s, $buf) = ws_open($port, tag('/root/flood'));
  is(ask($s, $buf, 'ready'), 'ready', 'flood session open');
  my $before = rss_kib($gw->pid);
  send_all($s, client_frame(1, '!flood 4000'));
  my $max = $before;
  my $end = time + 3;
  while (time < $end) {
    my $r = rss_kib($gw->pid);
    $max = $r if $r > $max;
    sleep 0.1;
  }
  my $grew = $max - $before;
  ok($grew < 16 * 1024, "slow client, flooding backend: wsgate RSS grew by $grew KiB (< 16 MiB)");
  # Read some of it: the flood is really flowing.
  my $got = 0;
  while ($got < 8 << 20) {
    my $f = read_frame($s, 5, $buf) or last;
    $got += length $f->{payload};
  }
  ok($got >= 8 << 20, 'and the flood flows once the client reads');
  close $s;
}

# ---- misbehaving backends (raw sockets) ----
#
# A backend that reads the upgrade request and runs $script->($sock, $accept, $head); what it
# receives afterwards, until EOF, goes to $dir/$name.rx.
sub raw_backend {
  my ($name, $script) = @_;
  return start_server(sub {
    my $c = shift;
    my $head = '';
    while ($head !~ /\r\n\r\n/) { sysread($c, $head, 4096, length $head) or return }
    my ($key) = $head =~ /^Sec-WebSocket-Key:\s*(\S+)/mi;
    my $accept = Digest::SHA::sha1_base64(($key // '') . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
    $script->($c, $accept, $head);
    open my $fh, '>>:raw', "$dir/$name.rx" or die;
    while (sysread($c, my $b, 65536)) { syswrite($fh, $b) }
    close $fh;
    open my $e, '>', "$dir/$name.rx.end" or die;
    close $e;
  });
}

sub switching {
  my ($accept, @extra) = @_;
  return join("\r\n", 'HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket',
    'Connection: Upgrade', "Sec-WebSocket-Accept: $accept", @extra, '', '');
}

sub server_frame {
  my ($op, $payload, %o) = @_;
  my $len = length $payload;
  my $b0 = (($o{fin} // 1) ? 0x80 : 0) | $op;
  return pack('CC', $b0, $len) . $payload if $len < 126;
  return pack('CCn', $b0, 126, $len) . $payload if $len < 65536;
  return pack('CCQ>', $b0, 127, $len) . $payload;
}

# The frames a raw backend received (masked, as wsgate sent them), unmasked.
sub received_frames {
  my ($name) = @_;
  my $data = slurp("$dir/$name.rx") // '';
  my @frames;
  while (length $data >= 2) {
    my ($b0, $b1) = unpack('CC', $data);
    my ($len, $off) = ($b1 & 0x7f, 2);
    if ($len == 126) { $len = unpack('x2n', $data); $off = 4 }
    elsif ($len == 127) { $len = unpack('x2Q>', $data); $off = 10 }
    my $mask = ($b1 & 0x80) ? substr($data, $off, 4) : undef;
    $off += 4 if defined $mask;
    last if length($data) < $off + $len;
    my $p = substr($data, $off, $len);
    $p ^= substr($mask x ($len / 4 + 1), 0, $len) if defined $mask;
    push @frames, { opcode => $b0 & 0x0f, masked => defined $mask ? 1 : 0, payload => $p };
    substr($data, 0, $off + $len, '');
  }
  return @frames;
}

sub received_close {
  my ($name) = @_;
  wait_for(5, sub { -e "$dir/$name.rx.end" });
  my ($c) = grep { $_->{opcode} == 8 } received_frames($name);
  return $c && length $c->{payload} >= 2 ? (unpack('n', $c->{payload}), $c->{masked}) : (undef);
}

{
  require Digest::SHA;
  my %raw = (
    greet => sub { send_all($_[0], switching($_[1]) . server_frame(1, 'greeting')) },
    interim => sub {
      send_all($_[0], "HTTP/1.1 100 Continue\r\n\r\n");
      sleep 0.1;
      send_all($_[0], "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        . switching($_[1]) . server_frame(1, 'after interim'));
    },
    interims => sub { send_all($_[0], "HTTP/1.1 100 Continue\r\n\r\n" x 6 . switching($_[1])) },
    badaccept => sub { send_all($_[0], switching('dGhlIHNhbXBsZSBub25jZQ==')) },
    badproto => sub { send_all($_[0], switching($_[1], 'Sec-WebSocket-Protocol: nope')) },
    badext => sub { send_all($_[0], switching($_[1], 'Sec-WebSocket-Extensions: x-custom')) },
    garbage => sub { send_all($_[0], "SSH-2.0-OpenSSH_9.2\r\n\r\n") },
    badext2 => sub {
      send_all($_[0], switching($_[1], 'Sec-WebSocket-Extensions: permessage-deflate',
        'Sec-WebSocket-Extensions: x-custom'));
    },
    hugehead => sub { send_all($_[0], switching($_[1], 'X-Big: ' . ('b' x 9000))) },
    silent => sub { sleep 3 },
    hangup => sub { shutdown($_[0], 2) },
    noclen => sub {
      send_all($_[0], "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\nlogin first");
      shutdown($_[0], 1);
    },
    masked => sub { send_all($_[0], switching($_[1]) . client_frame(1, 'masked from server')) },
    bigping => sub { send_all($_[0], switching($_[1]) . server_frame(9, 'p' x 126)) },
    badclose => sub { send_all($_[0], switching($_[1]) . server_frame(8, pack('n', 1005))) },
    noanswer => sub { send_all($_[0], switching($_[1])) },
    trickle => sub {
      # Two 1 MiB messages, each trickled out over about 0.8 s.
      send_all($_[0], switching($_[1]));
      for my $fill ("\x11", "\x22") {
        send_all($_[0], pack('CCQ>', 0x82, 127, 1 << 20));
        for (1 .. 16) { send_all($_[0], $fill x 65536); sleep 0.05 }
      }
    },
    slowreader => sub { send_all($_[0], switching($_[1])); sleep 4 },
  );
  my %srv = map { $_ => raw_backend($_, $raw{$_}) } keys %raw;
  my $ini2 = join '', map {
    "[route $_]\npath = /$_\nbackend = ws://127.0.0.1:${\ $srv{$_}->port }\nhandshake_timeout = 1s\n"
      . ($_ eq 'trickle' ? "ping_interval = 300ms\n" : '') . "\n"
  } sort keys %srv;
  my $g = wsgate($ini2);
  my $p = $g->port;

  my ($s, $buf, $res) = ws_open($p, '/greet');
  is($res && $res->{status}, 101, 'backend sending its 101 and a first frame together: 101');
  my $f = length($buf ? $$buf : '') ? read_frame($s, 2, $buf) : read_frame($s, 2, $buf);
  is($f && $f->{payload}, 'greeting',
    'the frame that came in the same segment as the 101 reaches the client');
  close $s;

  ($s, $buf, $res) = ws_open($p, '/interim');
  is($res && $res->{status}, 101, 'backend sending 100 and 103 before its 101: the client gets the 101');
  $f = read_frame($s, 2, $buf);
  is($f && $f->{payload}, 'after interim', '... and then the first frame, not an interim head');
  close $s;
  ($s, $buf, $res) = ws_open($p, '/interims');
  is($res && $res->{status}, 502, 'six interim answers in a row: 502');
  close $s;

  for my $case (['badaccept', 502, 'a wrong Sec-WebSocket-Accept'],
    ['badproto', 502, 'a subprotocol nobody offered'],
    ['badext', 502, 'an extension nobody offered'],
    ['garbage', 502, 'a non-HTTP answer'],
    ['badext2', 502, 'an unoffered extension in a second Extensions field'],
    ['hugehead', 502, 'a head over 8 KiB'],
    ['hangup', 502, 'a hang-up instead of an answer'],
    ['silent', 504, 'no answer within handshake_timeout']) {
    my ($path, $want, $what) = @$case;
    my ($s, $buf, $res) = ws_open($p, "/$path", 'Sec-WebSocket-Protocol' => 'chat',
      'Sec-WebSocket-Extensions' => 'permessage-deflate');
    my $st = $res ? $res->{status} : 0;
    is($st, $want, "backend answering with $what: $want");
    SKIP: {
      skip "$path: the session was opened", 1 if $st == 101;
      ok(tcp_closed($s, $res && $res->{rest}), "$path: then the connection closes");
    }
  }

  ($s, $buf, $res) = ws_open($p, '/noclen');
  is($res && $res->{status}, 401, 'a refusal without Content-Length: status relayed');
  my $body = $res ? $res->{rest} : '';
  my $sel = IO::Select->new($s);
  while ($sel->can_read(3)) { sysread($s, $body, 4096, length $body) or last }
  is($body, 'login first', 'its body relayed up to the backend\'s EOF');
  is($res && $res->{headers}{'www-authenticate'}, 'Basic', 'with its headers');

  for my $case (['masked', 'a masked frame'], ['bigping', 'a 126-byte ping'],
    ['badclose', 'close code 1005']) {
    my ($path, $what) = @$case;
    my ($s, $buf, $res) = ws_open($p, "/$path");
    is($res && $res->{status}, 101, "$path: 101");
    my ($code) = read_until_close($s, 5, $buf);
    is($code, 1011, "backend sending $what: the client gets 1011");
    my ($bcode, $masked) = received_close($path);
    is($bcode, 1002, "$path: the backend gets 1002");
    ok($masked, "$path: in a masked close frame");
  }

  # ping_interval = 300ms while the backend trickles two 1 MiB frames: wsgate's pings wait for
  # the frame in flight to end and go between the frames, never inside one.
  ($s, $buf) = ws_open($p, '/trickle');
  my (@data, $pings);
  my $t = time;
  while (@data < 2) {
    my $f = read_frame($s, 5, $buf) or last;
    if ($f->{opcode} == 9) {
      $pings++;
      send_all($s, client_frame(10, $f->{payload}));
      next;
    }
    push @data, $f;
  }
  is_deeply([map { [$_->{opcode}, $_->{fin}, length $_->{payload}] } @data],
    [[2, 1, 1 << 20], [2, 1, 1 << 20]], 'ping_interval with a trickling backend: both frames whole');
  ok(@data == 2 && $data[0]{payload} eq "\x11" x (1 << 20) && $data[1]{payload} eq "\x22" x (1 << 20),
    'and intact');
  ok($pings, sprintf('with %d ping(s) between them over %.1fs', $pings // 0, time - $t));
  my ($later) = frame_with($s, $buf, 9, 2);
  ok($later, 'the pings go on once the stream ends');
  send_all($s, client_frame(10, $later ? $later->{payload} : ''));
  send_all($s, client_frame(8, close_payload(1000)));
  my ($bcode) = received_close('trickle');
  is($bcode, 1000, 'the session was alive to the end: the backend gets the client\'s close');
  close $s;

  # The client closes; the backend never answers: wsgate gives up after a while.
  ($s, $buf) = ws_open($p, '/noanswer');
  send_all($s, client_frame(8, close_payload(1000, 'bye')));
  $t = time;
  my ($code) = read_until_close($s, 8, $buf);
  ok(defined $code && $code != -1, 'backend never answering the close: wsgate answers it itself ('
      . ($code // 'empty') . sprintf(', after %.1fs)', time - $t));
  ok(tcp_closed($s, $buf, 3), 'and lets the client go');
  ($bcode) = received_close('noanswer');
  is($bcode, 1000, 'the backend got the client\'s close 1000 (masked, relayed)');

  # A client flooding a backend that does not read: bounded memory.
  ($s, $buf) = ws_open($p, '/slowreader');
  $s->blocking(0);
  my $before = rss_kib($g->pid);
  my $frame = client_frame(2, 'z' x 65536);
  my ($sent, $max, $pending) = (0, $before, '');
  my $end = time + 2.5;
  while (time < $end) {
    $pending = $frame if $pending eq '';
    my $n = syswrite($s, $pending);
    if ($n) { substr($pending, 0, $n, ''); $sent += $n } else { sleep 0.01 }
    my $r = rss_kib($g->pid);
    $max = $r if $r > $max;
  }
  my $grew = $max - $before;
  ok($grew < 16 * 1024,
    "client flooding a backend that does not read: RSS grew by $grew KiB (< 16 MiB) after "
      . int($sent / 1024) . ' KiB sent');
  close $s;
  is($g->stop('TERM'), 0, 'the wsgate for raw backends stops cleanly') or diag $g->log_text;
}

{
  # SIGTERM with a proxied session open: both sides get 1001.
  my $path = tag('/root/shutdown');
  my ($s, $buf) = ws_open($port, $path);
  is(ask($s, $buf, 'up'), 'up', 'a session open when wsgate stops');
  kill 'TERM', $gw->pid;
  my ($code) = read_until_close($s, 5, $buf);
  is($code, 1001, 'SIGTERM: the client gets close 1001');
  my $ev = $py->event('closed', $path);
  is($ev && $ev->{code}, 1001, 'and the backend gets close 1001');
  send_all($s, client_frame(8, close_payload(1001)));
  close $s;
}
is($gw->stop('TERM'), 0, 'wsgate stops cleanly') or diag $gw->log_text;
diag sprintf('71-proxy-lifecycle.t took %.1fs', time - $T0);
done_testing;
