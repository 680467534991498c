package WsgateTest;
# The integration fixture: starts wsgate on a free port with an INI written by the test,
# waits for it, and stops it when the handle goes out of scope. Also mock backends that record
# what crossed the proxy, and raw-socket helpers for the frames a polite client never sends.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use MIME::Base64 qw(encode_base64);
use Socket qw(inet_pton AF_INET AF_INET6);

our @EXPORT = qw(
  empty_port wsgate start_server start_program tcp_echo_server recorder scripted
  raw_connect raw_upgrade read_http_response ws_open client_frame read_frame
  read_until_close tcp_closed send_all rss_kib wait_for slurp run_command test_pki
  check_config named_line proxy_v1 proxy_v2 ws_recorder
);

# The wsgate binary: $WSGATE, or build/wsgate in this checkout.
our $BIN = $ENV{WSGATE} || do {
  my $here = __FILE__ =~ s{/t/lib/WsgateTest\.pm$}{}r;
  "$here/build/wsgate";
};

# A port nobody listens on right now.
sub empty_port {
  my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1,
    ReuseAddr => 1) or die "empty_port: $!";
  my $port = $s->sockport;
  close $s;
  return $port;
}

# Polls $cond every 20 ms until it is true or $secs pass; returns its last value.
sub wait_for {
  my ($secs, $cond) = @_;
  my $deadline = time + $secs;
  while (1) {
    my $v = $cond->();
    return $v if $v || time > $deadline;
    sleep 0.02;
  }
}

# Starts wsgate with [server] listen on a free port plus $ini. Options: server => extra
# [server] lines, args => extra command-line arguments, wait => 0 to skip waiting for the port,
# tls => 1 to make that listener a TLS one (the test sets tls_cert and tls_key in server).
sub wsgate {
  my ($ini, %opt) = @_;
  my $dir = tempdir(CLEANUP => 1);
  my $port = $opt{port} || empty_port();
  my $conf = "$dir/wsgate.ini";
  open my $fh, '>', $conf or die "$conf: $!";
  print $fh "[server]\nlisten = 127.0.0.1:$port", ($opt{tls} ? ' tls' : ''), "\n",
    ($opt{server} // ''), "\n", $ini;
  close $fh;
  my $log = "$dir/wsgate.log";
  my $pid = fork // die "fork: $!";
  if ($pid == 0) {
    open STDOUT, '>>', $log or die;
    open STDERR, '>>', $log or die;
    exec $BIN, '-c', $conf, @{ $opt{args} || [] } or die "exec $BIN: $!";
  }
  my $self = bless { pid => $pid, port => $port, dir => $dir, conf => $conf, log => $log }, __PACKAGE__;
  if ($opt{wait} // 1) {
    my $up = wait_for(10, sub {
      return 0 if waitpid($pid, WNOHANG) == $pid && ($self->{pid} = 0, 1);
      IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
    });
    die "wsgate did not start:\n" . $self->log_text unless $up && $self->{pid};
  }
  return $self;
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }
sub url  { my ($self, $path) = @_; "ws://127.0.0.1:$self->{port}$path" }
sub log_text { my $self = shift; open my $fh, '<', $self->{log} or return ''; local $/; <$fh> }

# Sends a signal and waits for the exit; returns the exit status, or undef on timeout.
sub stop {
  my ($self, $sig, $secs) = @_;
  return $self->{status} unless $self->{pid};
  kill $sig // 'TERM', $self->{pid};
  return $self->wait_exit($secs);
}

# Waits up to $secs (default 10) for the process to exit and reaps it; returns the exit status,
# or undef on timeout.
sub wait_exit {
  my ($self, $secs) = @_;
  return $self->{status} unless $self->{pid};
  my $done = wait_for($secs // 10, sub { waitpid($self->{pid}, WNOHANG) == $self->{pid} });
  return undef unless $done;
  $self->{status} = $?;
  $self->{pid} = 0;
  return $self->{status};
}

sub DESTROY {
  my $self = shift;
  return unless $self->{pid};
  local $?;
  $self->stop('TERM', 5) // $self->stop('KILL', 5);
}

# Forks a server on a free port (or unix path); $handler->($sock) runs in a child per connection.
# The handle kills the server when it goes out of scope.
sub start_server {
  my ($handler, %opt) = @_;
  my ($listen, $port);
  if ($opt{unix}) {
    unlink $opt{unix};
    $listen = IO::Socket::UNIX->new(Local => $opt{unix}, Listen => 128) or die "unix: $!";
  } else {
    $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 128,
      ReuseAddr => 1) or die "listen: $!";
    $port = $listen->sockport;
  }
  my $pid = fork // die "fork: $!";
  if ($pid == 0) {
    setpgrp(0, 0);
    $SIG{CHLD} = 'IGNORE';
    while (my $c = $listen->accept) {
      my $kid = fork;
      if (defined $kid && $kid == 0) {
        close $listen;
        $handler->($c);
        POSIX::_exit(0);
      }
      close $c;
    }
    POSIX::_exit(0);
  }
  close $listen;
  return bless { pid => $pid, port => $port, path => $opt{unix} }, 'WsgateTest::Server';
}

# Runs the command @$cmd in the background, output appended to $opt{out} (default /dev/null),
# with %{$opt{env}} added to its environment. With $opt{port}, waits until 127.0.0.1:PORT
# accepts connections and dies with the output if it never does. The handle kills the process
# when it goes out of scope.
sub start_program {
  my ($cmd, %opt) = @_;
  my $out = $opt{out} // '/dev/null';
  my $pid = fork // die "fork: $!";
  if ($pid == 0) {
    @ENV{keys %{ $opt{env} || {} }} = values %{ $opt{env} || {} };
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', $out or POSIX::_exit(127);
    open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
    exec @$cmd or POSIX::_exit(127);
  }
  my $self = bless { pid => $pid }, 'WsgateTest::Program';
  return $self unless $opt{port};
  my $up = wait_for(10, sub {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $opt{port}, Proto => 'tcp');
  });
  die "$cmd->[0] did not listen on port $opt{port}:\n" . (slurp($out) // '') unless $up;
  return $self;
}

# A TCP (or unix) echo backend.
sub tcp_echo_server {
  return start_server(sub {
    my $c = shift;
    while (1) {
      my $n = sysread($c, my $buf, 65536);
      last unless $n;
      send_all($c, $buf) or last;
    }
  }, @_);
}

# A backend that runs $script->($sock) and then waits for the peer's EOF.
sub scripted {
  my ($script) = @_;
  return start_server(sub {
    my $c = shift;
    $script->($c);
    1 while sysread($c, my $buf, 65536);
  });
}

# A ws:// backend (python3-websockets, /usr/bin/python3) that appends one JSON line per upgrade,
# {"path": PATH, "headers": {lower-case name: value}}, to a file in $dir, then echoes.
# Returns (the program's handle, its port, the file).
sub ws_recorder {
  my ($dir) = @_;
  open my $fh, '>', "$dir/ws_recorder.py" or die;
  print $fh <<'PY';
import asyncio, json, sys
import websockets

port, logfile = int(sys.argv[1]), sys.argv[2]

async def handler(ws, path):
    hdrs = {k.lower(): v for k, v in ws.request_headers.raw_items()}
    with open(logfile, "a") as f:
        f.write(json.dumps({"path": path, "headers": hdrs}) + "\n")
    async for msg in ws:
        await ws.send(msg)

async def main():
    async with websockets.serve(handler, "127.0.0.1", port, compression=None):
        await asyncio.Future()

asyncio.run(main())
PY
  close $fh;
  my $port = empty_port();
  my $file = "$dir/ws_recorder.jsonl";
  my $prog = start_program(['/usr/bin/python3', "$dir/ws_recorder.py", $port, $file],
    port => $port, out => "$dir/ws_recorder.log");
  return ($prog, $port, $file);
}

# A PROXY protocol v1 header: TCP4 or TCP6 by the source address's form.
sub proxy_v1 {
  my ($src, $sport, $dst, $dport) = @_;
  my $fam = $src =~ /:/ ? 'TCP6' : 'TCP4';
  return "PROXY $fam $src $dst $sport $dport\r\n";
}

# A PROXY protocol v2 PROXY header over TCP (IPv4 or IPv6 by the source's form), with the
# TLVs' bytes if given.
sub proxy_v2 {
  my ($src, $sport, $dst, $dport, $tlvs) = @_;
  my ($af, $fam) = $src =~ /:/ ? (AF_INET6, 0x21) : (AF_INET, 0x11);
  my $body = inet_pton($af, $src) . inet_pton($af, $dst) . pack('nn', $sport, $dport)
    . ($tlvs // '');
  return "\r\n\r\n\0\r\nQUIT\n" . pack('CCn', 0x21, $fam, length $body) . $body;
}

# A backend that appends what it receives to $file (after $delay seconds of not reading) and, at
# the end, writes "eof" (clean FIN) or "error: ..." to $file.end (whole: written aside, then
# renamed, so that a test that sees the file sees its word).
sub recorder {
  my ($file, $delay) = @_;
  return start_server(sub {
    my $c = shift;
    sleep $delay if $delay;
    open my $fh, '>>:raw', $file or die;
    my $n;
    while ($n = sysread($c, my $buf, 65536)) { syswrite($fh, $buf) }
    close $fh;
    open my $e, '>', "$file.end.tmp" or die;
    print $e defined $n ? 'eof' : "error: $!";
    close $e;
    rename "$file.end.tmp", "$file.end" or die;
  });
}

# A file's bytes, or undef if it cannot be read (yet).
sub slurp {
  my ($f) = @_;
  open my $fh, '<:raw', $f or return undef;
  local $/;
  return scalar <$fh>;
}

# Runs @cmd with stdin from /dev/null, killed after $secs; returns its exit status and output.
sub run_command {
  my ($secs, @cmd) = @_;
  my (undef, $log) = File::Temp::tempfile(UNLINK => 1);
  my $pid = fork // die "fork: $!";
  if ($pid == 0) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', $log or POSIX::_exit(127);
    open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
    exec @cmd or POSIX::_exit(127);
  }
  unless (wait_for($secs, sub { waitpid($pid, WNOHANG) == $pid })) {
    kill 'KILL', $pid;
    waitpid($pid, 0);
  }
  my $status = $?;
  return ($status, slurp($log) // '');
}

# A throwaway PKI in $dir (P-256, valid two days): ca.pem and ca.key, and for each
# NAME => 'DNS:localhost,IP:127.0.0.1' (a subjectAltName) NAME.pem and NAME.key signed by
# the CA, or self-signed for NAME => [SAN, 'self']; each serves as a server or a client
# certificate, CN the first DNS name. Dies if openssl fails; returns ca.pem.
sub test_pki {
  my ($dir, %certs) = @_;
  my %san = map { $_ => (ref $certs{$_} ? $certs{$_}[0] : $certs{$_}) } keys %certs;
  my %self = map { $_ => (ref $certs{$_} ? 1 : 0) } keys %certs;
  my $cnf = "$dir/openssl.cnf";
  open my $fh, '>', $cnf or die "$cnf: $!";
  print $fh "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n",
    "[ca_ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n",
    "subjectKeyIdentifier = hash\n";
  for my $name (sort keys %certs) {
    print $fh "[${name}_ext]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n",
      "extendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = $san{$name}\n",
      ($self{$name} ? '' : "authorityKeyIdentifier = keyid\n");
  }
  close $fh;
  my $run = sub {
    my ($rc, $out) = run_command(60, @_);
    die "@_ failed:\n$out" if $rc;
  };
  my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes');
  $run->('openssl', 'req', '-config', $cnf, '-x509', @ec, '-keyout', "$dir/ca.key",
    '-out', "$dir/ca.pem", '-days', '2', '-subj', '/CN=wsgate test CA', '-extensions', 'ca_ext');
  for my $name (sort keys %certs) {
    my ($cn) = $san{$name} =~ /DNS:([^,]+)/;
    my @subj = ('-subj', '/CN=' . ($cn // 'localhost'));
    if ($self{$name}) {
      $run->('openssl', 'req', '-config', $cnf, '-x509', @ec, '-keyout', "$dir/$name.key",
        '-out', "$dir/$name.pem", '-days', '2', @subj, '-extensions', "${name}_ext");
      next;
    }
    $run->('openssl', 'req', '-config', $cnf, '-new', @ec, '-keyout', "$dir/$name.key",
      '-out', "$dir/$name.csr", @subj);
    $run->('openssl', 'x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/ca.pem",
      '-CAkey', "$dir/ca.key", '-CAcreateserial', '-out', "$dir/$name.pem", '-days', '2',
      '-extfile', $cnf, '-extensions', "${name}_ext");
  }
  return "$dir/ca.pem";
}

# Runs wsgate -t on $ini (with %opt as for wsgate); returns (exit status, output).
sub check_config {
  my ($ini, %opt) = @_;
  my $g = wsgate($ini, args => ['-t'], wait => 0, %opt);
  my $st = $g->wait_exit(10);
  return ($st, $g->log_text);
}

# The line of the config file that the first FILE:LINE in $out names, or undef.
sub named_line {
  my ($out) = @_;
  my ($file, $n) = $out =~ m{^(/\S+?):(\d+): }m or return undef;
  open my $fh, '<', $file or return undef;
  my @lines = <$fh>;
  return $lines[$n - 1];
}

# Writes all of $data to $sock; false if a write fails.
sub send_all {
  my ($sock, $data) = @_;
  while (length $data) {
    my $n = syswrite($sock, $data);
    return 0 unless defined $n;
    substr($data, 0, $n, '');
  }
  return 1;
}

sub raw_connect {
  my ($port) = @_;
  my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
    or die "connect: $!";
  binmode $s;
  return $s;
}

# Reads one HTTP response head (and its Content-Length body); returns
# { status, headers => { lc name => value }, body, rest } or undef on EOF/timeout.
sub read_http_response {
  my ($sock, $timeout) = @_;
  my $buf = '';
  my $sel = IO::Select->new($sock);
  my $deadline = time + ($timeout // 10);
  while ($buf !~ /\r\n\r\n/) {
    return undef unless $sel->can_read($deadline - time);
    my $n = sysread($sock, $buf, 65536, length $buf);
    return undef unless $n;
  }
  my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
  my ($line, @lines) = split /\r\n/, $head;
  my ($status) = $line =~ m{^HTTP/1\.1 (\d{3}) } or return undef;
  my %h;
  for (@lines) { my ($k, $v) = /^([^:]+):\s*(.*)$/; $h{lc $k} = $v }
  my $body = '';
  if (my $len = $h{'content-length'}) {
    while (length $rest < $len) {
      last unless $sel->can_read($deadline - time);
      my $n = sysread($sock, $rest, 65536, length $rest) or last;
    }
    $body = substr($rest, 0, $len, '');
  }
  return { status => $status, headers => \%h, body => $body, rest => $rest, line => $line };
}

# Connects to $port and upgrades on $path (%h as for raw_upgrade); returns
# ($sock, \$bytes_read_past_the_head, $response or undef). Checking the status is the caller's job.
sub ws_open {
  my ($port, $path, %h) = @_;
  my $s = raw_connect($port);
  raw_upgrade($s, $path, %h);
  my $res = read_http_response($s, 5);
  my $buf = $res ? $res->{rest} : '';
  return ($s, \$buf, $res);
}

# True once the peer has closed TCP (EOF or reset) with nothing more to read, within $secs
# (default 5). $pending is what was already read and not consumed: a string or a reference to one.
sub tcp_closed {
  my ($s, $pending, $secs) = @_;
  $pending = $$pending if ref $pending;
  return 0 if defined $pending && length $pending;
  my $sel = IO::Select->new($s);
  my $deadline = time + ($secs // 5);
  while ((my $left = $deadline - time) > 0) {
    return 0 unless $sel->can_read($left);
    my $n = sysread($s, my $junk, 65536);
    return 1 unless $n;
    return 0;
  }
  return 0;
}

# Sends an upgrade request for $path; %h adds or (with undef) removes headers.
sub raw_upgrade {
  my ($sock, $path, %h) = @_;
  my %hdr = (
    'Host' => 'localhost',
    'Upgrade' => 'websocket',
    'Connection' => 'Upgrade',
    'Sec-WebSocket-Key' => 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version' => '13',
  );
  my $method = delete $h{-method} // 'GET';
  my $extra = delete $h{-extra} // '';
  @hdr{keys %h} = values %h;
  my $req = "$method $path HTTP/1.1\r\n";
  for my $k (sort keys %hdr) { $req .= "$k: $hdr{$k}\r\n" if defined $hdr{$k} }
  send_all($sock, "$req\r\n$extra");
}

# A masked client frame. Options: fin (default 1), rsv (0-7), mask (4 bytes), len (override
# the 7-bit length encoding: 126 or 127 to force a longer form).
sub client_frame {
  my ($opcode, $payload, %o) = @_;
  $payload //= '';
  my $fin = $o{fin} // 1;
  my $b0 = ($fin ? 0x80 : 0) | (($o{rsv} // 0) << 4) | $opcode;
  my $len = length $payload;
  my $masked = $o{unmasked} ? 0 : 0x80;
  my $form = $o{len} // ($len < 126 ? $len : $len < 65536 ? 126 : 127);
  my $hdr = pack('C', $b0);
  if ($form < 126) { $hdr .= pack('C', $masked | $len) }
  elsif ($form == 126) { $hdr .= pack('Cn', $masked | 126, $len) }
  else { $hdr .= pack('CQ>', $masked | 127, $o{len64} // $len) }
  return $hdr . $payload if $o{unmasked};
  my $mask = $o{mask} // pack('N', int(rand(2**32)));
  my $m = substr($mask x (int($len / 4) + 1), 0, $len);
  return $hdr . $mask . ($payload ^ $m);
}

# Reads one server frame; returns { fin, opcode, payload, rsv, masked } or undef on EOF/timeout.
# A buffer ref in $bufref keeps bytes across calls.
sub read_frame {
  my ($sock, $timeout, $bufref) = @_;
  my $buf = '';
  $bufref //= \$buf;
  my $sel = IO::Select->new($sock);
  my $deadline = time + ($timeout // 10);
  my $need = sub {
    my $n = shift;
    while (length($$bufref) < $n) {
      my $left = $deadline - time;
      return 0 if $left <= 0 || !$sel->can_read($left);
      my $r = sysread($sock, $$bufref, 1 << 20, length $$bufref);
      return 0 unless $r;
    }
    return 1;
  };
  $need->(2) or return undef;
  my ($b0, $b1) = unpack('CC', $$bufref);
  my $len = $b1 & 0x7f;
  my $off = 2;
  if ($len == 126) { $need->(4) or return undef; $len = unpack('x2n', $$bufref); $off = 4 }
  elsif ($len == 127) { $need->(10) or return undef; $len = unpack('x2Q>', $$bufref); $off = 10 }
  my $masked = $b1 & 0x80;
  $off += 4 if $masked;
  $need->($off + $len) or return undef;
  my $payload = substr($$bufref, $off, $len);
  substr($$bufref, 0, $off + $len, '');
  return { fin => ($b0 & 0x80) ? 1 : 0, rsv => ($b0 >> 4) & 7, opcode => $b0 & 0x0f,
           payload => $payload, masked => $masked ? 1 : 0 };
}

# Reads frames until a close frame; returns (close code or undef, reason, [data frames]).
sub read_until_close {
  my ($sock, $timeout, $bufref) = @_;
  my @frames;
  while (my $f = read_frame($sock, $timeout, $bufref)) {
    if ($f->{opcode} == 8) {
      return (undef, '', \@frames) if length $f->{payload} < 2;
      return (unpack('n', $f->{payload}), substr($f->{payload}, 2), \@frames);
    }
    push @frames, $f;
  }
  return (-1, 'no close frame', \@frames);
}

# Resident set size of a process in KiB.
sub rss_kib {
  my ($pid) = @_;
  open my $fh, '<', "/proc/$pid/status" or return 0;
  while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
  return 0;
}

package WsgateTest::Server;

sub port { $_[0]{port} }
sub path { $_[0]{path} }
# The server as a route's backend value: tcp://127.0.0.1:PORT or unix:PATH.
sub backend { $_[0]{path} ? "unix:$_[0]{path}" : "tcp://127.0.0.1:$_[0]{port}" }

sub DESTROY {
  my $self = shift;
  return unless $self->{pid};
  local $?;
  kill 'KILL', -$self->{pid}, $self->{pid};
  waitpid($self->{pid}, 0);
  unlink $self->{path} if $self->{path};
}

package WsgateTest::Program;

sub pid { $_[0]{pid} }
# True while the process runs.
sub alive { $_[0]{pid} && waitpid($_[0]{pid}, POSIX::WNOHANG()) == 0 }

# Sends a signal (default TERM) and reaps the process.
sub kill {
  my ($self, $sig) = @_;
  return unless $self->{pid};
  CORE::kill($sig // 'TERM', $self->{pid});
  waitpid($self->{pid}, 0);
  $self->{pid} = 0;
}

sub DESTROY { local $?; $_[0]->kill('KILL') }

1;
