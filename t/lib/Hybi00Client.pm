# The hybi-00 (hixie-76) client side for the t/ files: requests and handshakes built by Perl's
# Protocol::WebSocket (and raw ones for what a polite client never sends), its frames, reading
# messages back, the draft's challenge computed independently, and the gateway's access log.
package Hybi00Client;

use strict;
use warnings;
use Digest::MD5 qw(md5);
use Exporter 'import';
use IO::Select;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Time::HiRes qw(time);
use Protocol::WebSocket::Handshake::Client;
use Protocol::WebSocket::Frame;
use WsgateTest;

our @EXPORT = qw(H00 h00_gateway h00_text h00_close h00_handshake nodelay read_h00_response hv
  h00_open h00_finish take_msg next_msg ask read_texts ends_with_close silent_for
  h00_raw_request key_number challenge access_line access_close_is);

use constant H00 => 'draft-ietf-hybi-00';

# The gateway (WsgateTest's wsgate()) that the helpers connect to and read the log of.
our $GW;
sub h00_gateway { $GW = shift }

# Frame bytes from Protocol::WebSocket: a text frame (bytes in, bytes out) and the closing frame.
sub h00_text { Protocol::WebSocket::Frame->new(version => H00, buffer => $_[0])->to_bytes }
sub h00_close { Protocol::WebSocket::Frame->new(version => H00, type => 'close')->to_bytes }

# A Protocol::WebSocket handshake object for ws://127.0.0.1:PORT$path. %o: origin, protocol.
sub h00_handshake {
  my ($path, %o) = @_;
  my $hs = Protocol::WebSocket::Handshake::Client->new(url => "ws://127.0.0.1:" . $GW->port . $path,
    version => H00);
  $hs->req->origin($o{origin}) if defined $o{origin};
  $hs->req->subprotocol($o{protocol}) if defined $o{protocol};
  return $hs;
}

sub nodelay { setsockopt($_[0], IPPROTO_TCP, TCP_NODELAY, 1); $_[0] }

# Reads an HTTP response head; for a 101 also the 16 challenge bytes. Returns { line, status,
# headers => { lc name => [values] }, head (the raw head with its blank line), challenge, rest }
# or undef on EOF/timeout ($got, if given, receives what was read).
sub read_h00_response {
  my ($s, $secs, $got) = @_;
  my $buf = '';
  my $sel = IO::Select->new($s);
  my $deadline = time + ($secs // 5);
  my $more = sub {
    my $left = $deadline - time;
    return 0 if $left <= 0 || !$sel->can_read($left);
    return sysread($s, $buf, 65536, length $buf) ? 1 : 0;
  };
  while ($buf !~ /\r\n\r\n/) {
    unless ($more->()) { $$got = $buf if $got; return undef }
  }
  my $end = index($buf, "\r\n\r\n") + 4;
  my $head = substr($buf, 0, $end);
  my ($line, @lines) = split /\r\n/, substr($head, 0, -4);
  my ($status) = $line =~ m{^HTTP/1\.1 (\d{3}) } or return undef;
  my %h;
  for (@lines) { my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/; push @{ $h{lc $k} }, $v }
  my $res = { line => $line, status => $status, headers => \%h, head => $head };
  if ($status == 101) {
    while (length($buf) < $end + 16) { last unless $more->() }
    $res->{challenge} = substr($buf, $end, 16);
    $res->{rest} = length($buf) > $end + 16 ? substr($buf, $end + 16) : '';
  } else {
    $res->{rest} = substr($buf, $end);
  }
  $$got = $buf if $got;
  return $res;
}

# A header's single value (undef when absent; "a | b" when repeated, so that is() shows it).
sub hv { my ($res, $name) = @_; my $v = $res && $res->{headers}{lc $name}; $v && join ' | ', @$v }

# Opens a hybi-00 session with Protocol::WebSocket: sends its request (key3 included) followed
# by $o{extra}, reads the 101 and has Protocol::WebSocket check it and the challenge. Returns a
# connection { s, buf, res, ok (the handshake verified), error }.
sub h00_open {
  my ($path, %o) = @_;
  my $hs = h00_handshake($path, %o);
  my $s = nodelay(raw_connect($GW->port));
  send_all($s, $hs->to_string . ($o{extra} // ''));
  return h00_finish($s, $hs);
}

sub h00_finish {
  my ($s, $hs, $secs) = @_;
  my $res = read_h00_response($s, $secs // 5);
  my $c = { s => $s, buf => '', res => $res, hs => $hs, ok => 0 };
  if ($res && $res->{status} == 101 && length($res->{challenge}) == 16) {
    my $raw = $res->{head} . $res->{challenge};
    $c->{ok} = ($hs->parse($raw) && $hs->is_done) ? 1 : 0;
    $c->{error} = $hs->error;
    $c->{buf} = $res->{rest};
  } else {
    $c->{error} = $res ? $res->{line} : 'no response';
  }
  return $c;
}

# Takes one complete message off $c's buffer: { text => bytes } (decoded by
# Protocol::WebSocket::Frame), { close => 1 } for ff 00, { junk => hex } for anything a hybi-00
# server must not send, or undef when incomplete.
sub take_msg {
  my ($c) = @_;
  my $b = \$c->{buf};
  return undef unless length $$b;
  my $t = ord $$b;
  if ($t == 0xff) {
    return undef if length $$b < 2;
    return { junk => unpack('H*', substr($$b, 0, 32)) } if substr($$b, 1, 1) ne "\x00";
    substr($$b, 0, 2, '');
    return { close => 1 };
  }
  return { junk => unpack('H*', substr($$b, 0, 32)) } if $t != 0x00;
  my $end = index($$b, "\xff");
  return undef if $end < 0;
  my $f = Protocol::WebSocket::Frame->new(version => H00);
  $f->append(substr($$b, 0, $end + 1, ''));
  my $payload = $f->next_bytes;
  return defined $payload ? { text => $payload } : { junk => 'undecodable' };
}

# Reads until a complete message is there; returns it, or undef on EOF ($c->{eof} set) or timeout.
sub next_msg {
  my ($c, $secs) = @_;
  my $sel = IO::Select->new($c->{s});
  my $deadline = time + ($secs // 5);
  while (1) {
    my $m = take_msg($c);
    return $m if $m;
    my $left = $deadline - time;
    return undef if $left <= 0 || !$sel->can_read($left);
    my $n = sysread($c->{s}, $c->{buf}, 1 << 20, length $c->{buf});
    unless ($n) { $c->{eof} = 1; return undef }
  }
}

# Sends text frames and reads back one message; returns its text (undef if none).
sub ask {
  my ($c, $text) = @_;
  send_all($c->{s}, h00_text($text));
  my $m = next_msg($c, 5);
  return $m && $m->{text};
}

# Text messages (concatenated) until $want bytes have arrived or something else comes.
sub read_texts {
  my ($c, $want, $secs) = @_;
  my ($all, $n) = ('', 0);
  while (length $all < $want) {
    my $m = next_msg($c, $secs // 5) or last;
    last unless defined $m->{text};
    $all .= $m->{text};
    $n++;
  }
  return wantarray ? ($all, $n) : $all;
}

# The server's side of the end: ff 00, then nothing more and the TCP connection closed.
sub ends_with_close {
  my ($c, $name, $secs) = @_;
  my @before;
  my $m;
  while ($m = next_msg($c, $secs // 5)) {
    last unless defined $m->{text};
    push @before, $m->{text};
  }
  my $got_close = $m && $m->{close};
  ok($got_close, "$name: wsgate sends ff 00")
    or diag explain { got => $m, eof => $c->{eof}, texts_before => \@before };
  ok($got_close && tcp_closed($c->{s}, $c->{buf}, 5), "$name: and then closes TCP");
  # wsgate waits for our end of the TCP close before it logs the session and lets go of it.
  close $c->{s};
  return \@before;
}

# Nothing at all arrives within $secs.
sub silent_for {
  my ($c, $secs) = @_;
  my $sel = IO::Select->new($c->{s});
  return 1 unless $sel->can_read($secs);
  my $n = sysread($c->{s}, my $junk, 65536);
  $c->{buf} .= $junk if $n;
  return 0;
}

# A raw hybi-00 request: the draft's first example by default. %h: headers to set or (undef)
# remove, in a fixed order; -key3, -target, -first (request line).
sub h00_raw_request {
  my (%h) = @_;
  my @order = ('Host', 'Connection', 'Sec-WebSocket-Key2', 'Sec-WebSocket-Protocol', 'Upgrade',
    'Sec-WebSocket-Key1', 'Origin');
  my %hdr = (
    'Host' => 'example.com',
    'Connection' => 'Upgrade',
    'Sec-WebSocket-Key2' => '12998 5 Y3 1  .P00',
    'Upgrade' => 'WebSocket',
    'Sec-WebSocket-Key1' => '4 @1  46546xW%0l 1 5',
    'Origin' => 'http://example.com',
  );
  my $key3 = exists $h{-key3} ? delete $h{-key3} : '^n:ds[4U';
  my $target = delete $h{-target} // '/echo/demo';
  my $extra = delete $h{-extra} // [];
  for my $k (keys %h) { $hdr{$k} = $h{$k}; push @order, $k unless grep { $_ eq $k } @order }
  my $req = "GET $target HTTP/1.1\r\n";
  for my $k (@order) { $req .= "$k: $hdr{$k}\r\n" if defined $hdr{$k} }
  $req .= "$_\r\n" for @$extra;
  return "$req\r\n" . ($key3 // '');
}

# The challenge as computed here, independently of wsgate and Protocol::WebSocket.
sub key_number {
  my ($key) = @_;
  my $digits = join '', $key =~ /\d/g;
  my $spaces = () = $key =~ / /g;
  return $digits / $spaces;
}
sub challenge { md5(pack('NN', key_number($_[0]), key_number($_[1])) . $_[2]) }

sub access_line {
  my ($path) = @_;
  my ($l) = grep { /"\Q$path\E" / } split /\n/, $GW->log_text;
  return $l;
}

sub access_close_is {
  my ($path, $code, $name) = @_;
  my $ok = wait_for(5, sub { my $l = access_line($path); $l && $l =~ / close=$code / });
  ok($ok, "$name: access log has close=$code") or diag access_line($path) // $GW->log_text;
}

1;
