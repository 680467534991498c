package WsgateMojo;
# Mojo::UserAgent as a WebSocket client for the integration tests. Load it before anything else
# that loads Mojo: it sets the environment Mojo reads, then loads Mojo::UserAgent and Mojo::IOLoop.
use strict;
use warnings;
BEGIN {
  # Room for the multi-MiB messages the tests send and receive.
  $ENV{MOJO_MAX_WEBSOCKET_SIZE} = 64 << 20;
  # libev (Mojo::Reactor::EV) reaps every child, wsgate included; the fixture must reap it.
  $ENV{MOJO_REACTOR} = 'Mojo::Reactor::Poll';
}
use Exporter 'import';
use Time::HiRes qw(time);
use Mojo::UserAgent;
use Mojo::IOLoop;

our @EXPORT = qw(run_until mojo_start mojo_ws mojo_gone);

my $ua = Mojo::UserAgent->new(inactivity_timeout => 60, connect_timeout => 5);

# Runs the Mojo loop until $cond is true or $secs pass; returns $cond's last value.
sub run_until {
  my ($secs, $cond) = @_;
  my $deadline = time + $secs;
  my $id = Mojo::IOLoop->recurring(0.01 => sub {
    Mojo::IOLoop->stop if $cond->() || time > $deadline;
  });
  Mojo::IOLoop->start;
  Mojo::IOLoop->remove($id);
  return $cond->();
}

# Opens a Mojo WebSocket on $url (offering the subprotocols in @$protocols, if given) without
# waiting. The state hash gets tx, then opened (time) or failed (status or error); it collects
# frames, the payloads of data frames in data, a count of pings, and code, reason and finished.
sub mojo_start {
  my ($url, $protocols) = @_;
  my $st = { frames => [], data => '', pings => 0 };
  my @args = ($url, $protocols ? ($protocols) : ());
  $ua->websocket(@args => sub {
    my (undef, $tx) = @_;
    $st->{tx} = $tx;
    unless ($tx->is_websocket) {
      $st->{failed} = $tx->res->code // ($tx->error && $tx->error->{message}) // 'failed';
      return;
    }
    $st->{opened} = time;
    $tx->on(frame => sub {
      my (undef, $f) = @_;
      push @{ $st->{frames} }, $f;
      $st->{data} .= $f->[5] if $f->[4] <= 2;
      $st->{pings}++ if $f->[4] == 9;
    });
    $tx->on(finish => sub { (undef, $st->{code}, $st->{reason}) = @_; $st->{finished} = time });
  });
  return $st;
}

# mojo_start, then runs the loop until the handshake is over (up to 10 s).
sub mojo_ws {
  my $st = mojo_start(@_);
  run_until(10, sub { $st->{tx} });
  return $st;
}

# True once Mojo has finished the session and also flushed its close reply and closed its socket:
# 'finish' fires before the reply is written, and stopping the loop right then would leave the
# socket half-open, making wsgate wait for an EOF that never comes.
sub mojo_gone {
  my ($st) = @_;
  return $st->{finished} && !($st->{tx} && Mojo::IOLoop->stream($st->{tx}->connection));
}

1;
