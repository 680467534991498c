// Routes built from parsed configs: path precedence, origins and subprotocol selection.
#include "route.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace {

Config parse_ok(const std::string& text) {
  Config c;
  std::vector<std::string> errors;
  bool ok = config_parse(text, "test.ini", c, errors);
  EXPECT_TRUE(ok);
  for (const std::string& e : errors) ADD_FAILURE() << e;
  return c;
}

std::string route(const std::string& name, const std::string& path, const std::string& extra = "") {
  return "[route " + name + "]\npath = " + path + "\nbackend = echo\n" + extra;
}

// The routes of a config that must build.
Router build_router(const Config& c) {
  std::vector<std::string> errors;
  std::optional<Router> r = Router::build(c, errors);
  for (const std::string& e : errors) ADD_FAILURE() << e;
  return r ? std::move(*r) : Router();
}

// The name of the route the router picks, or "-" for none.
std::string pick(const Router& r, const std::string& path) {
  const Route* m = r.match(path);
  return m ? m->name() : "-";
}

TEST(Router, ExactBeforePrefixBeforeRegex) {
  // Declared in the reverse order of precedence: order in the file must not matter.
  Config c =
      parse_ok(route("rx", "~ ^/chat") + route("pre", "/chat/*") + route("exact", "/chat/room"));
  Router r = build_router(c);
  EXPECT_EQ(pick(r, "/chat/room"), "exact");
  EXPECT_EQ(pick(r, "/chat/other"), "pre");
  EXPECT_EQ(pick(r, "/chat/"), "pre");
  EXPECT_EQ(pick(r, "/chatter"), "rx");
  EXPECT_EQ(pick(r, "/chat"), "rx");
  EXPECT_EQ(pick(r, "/nothing"), "-");
}

TEST(Router, MatchKinds) {
  Config c = parse_ok(route("e", "/e") + route("p", "/p/*") + route("r", "~ ^/r/[0-9]+$"));
  Router r = build_router(c);
  ASSERT_EQ(r.routes().size(), 3u);
  EXPECT_EQ(r.routes()[0]->match_kind(), Route::Match::kExact);
  EXPECT_EQ(r.routes()[1]->match_kind(), Route::Match::kPrefix);
  EXPECT_EQ(r.routes()[1]->prefix_length(), 3u);
  EXPECT_EQ(r.routes()[2]->match_kind(), Route::Match::kRegex);
  EXPECT_TRUE(r.routes()[0]->matches("/e"));
  EXPECT_FALSE(r.routes()[0]->matches("/e/"));
  EXPECT_FALSE(r.routes()[0]->matches("/E"));
  EXPECT_FALSE(r.routes()[0]->matches("/ex"));
  EXPECT_TRUE(r.routes()[1]->matches("/p/"));
  EXPECT_TRUE(r.routes()[1]->matches("/p/x/y"));
  EXPECT_FALSE(r.routes()[1]->matches("/p"));
  EXPECT_FALSE(r.routes()[1]->matches("/px"));
  EXPECT_TRUE(r.routes()[2]->matches("/r/42"));
  EXPECT_FALSE(r.routes()[2]->matches("/r/42x"));
  EXPECT_FALSE(r.routes()[2]->matches("/r/"));
}

TEST(Router, LongestPrefixWins) {
  Config c = parse_ok(route("short", "/a/*") + route("longest", "/a/b/c/*") +
                      route("middle", "/a/b/*") + route("root", "/*"));
  Router r = build_router(c);
  EXPECT_EQ(pick(r, "/a/b/c/d"), "longest");
  EXPECT_EQ(pick(r, "/a/b/c/"), "longest");
  EXPECT_EQ(pick(r, "/a/b/c"), "middle");
  EXPECT_EQ(pick(r, "/a/b/x"), "middle");
  EXPECT_EQ(pick(r, "/a/x"), "short");
  EXPECT_EQ(pick(r, "/a"), "root");
  EXPECT_EQ(pick(r, "/"), "root");
  EXPECT_EQ(pick(r, "/zzz"), "root");
}

TEST(Router, PrefixWithoutTrailingSlash) {
  Config c = parse_ok(route("vnc", "/vnc*") + route("vnc2", "/vnc2*"));
  Router r = build_router(c);
  EXPECT_EQ(pick(r, "/vnc"), "vnc");
  EXPECT_EQ(pick(r, "/vncx"), "vnc");
  EXPECT_EQ(pick(r, "/vnc2/a"), "vnc2");
}

TEST(Router, RegexesInFileOrder) {
  Config c = parse_ok(route("first", "~ ^/chat/[0-9]+$") + route("second", "~ ^/chat/") +
                      route("third", "~ [0-9]$"));
  Router r = build_router(c);
  EXPECT_EQ(pick(r, "/chat/12"), "first");  // all three match; the first in the file wins
  EXPECT_EQ(pick(r, "/chat/ab"), "second");
  EXPECT_EQ(pick(r, "/x/9"), "third");
  EXPECT_EQ(pick(r, "/x/y"), "-");

  Config rev = parse_ok(route("third", "~ [0-9]$") + route("second", "~ ^/chat/") +
                        route("first", "~ ^/chat/[0-9]+$"));
  Router r2 = build_router(rev);
  EXPECT_EQ(pick(r2, "/chat/12"), "third");
}

TEST(Router, RegexIsExtendedAndUnanchoredUnlessAnchored) {
  Config c = parse_ok(route("alt", "~ ^/(foo|bar)+$") + route("loose", "~ baz"));
  Router r = build_router(c);
  EXPECT_EQ(pick(r, "/foobar"), "alt");
  EXPECT_EQ(pick(r, "/foox"), "-");
  EXPECT_EQ(pick(r, "/a/baz/b"), "loose");
}

TEST(Router, NoRoutesMatchesNothing) {
  Config c;
  Router r = build_router(c);
  EXPECT_EQ(r.match("/"), nullptr);
}

TEST(Route, ConfigAndLimitsAreKept) {
  Config c = parse_ok("[server]\nmax_message_size = 1M\n" +
                      route("a", "/a", "type = text\nmax_message_size = 4k\n") + route("b", "/b"));
  Router r = build_router(c);
  EXPECT_EQ(r.routes()[0]->name(), "a");
  EXPECT_EQ(r.routes()[0]->config().type, MessageType::kText);
  EXPECT_EQ(r.routes()[0]->limits().max_message_size, 4096u);
  EXPECT_EQ(r.routes()[1]->limits().max_message_size, 1u << 20);
}

// ---- Origins ----

TEST(Origin, EmptyListAllowsAll) {
  Config c = parse_ok(route("a", "/a"));
  Router r = build_router(c);
  const Route& a = *r.routes()[0];
  EXPECT_TRUE(a.origin_allowed("https://example.com"));
  EXPECT_TRUE(a.origin_allowed("null"));
  EXPECT_TRUE(a.origin_allowed(""));
}

TEST(Origin, ExactMatchAnyCase) {
  Config c = parse_ok(route("a", "/a", "origins = https://Example.com, http://localhost:3000\n"));
  Router r = build_router(c);
  const Route& a = *r.routes()[0];
  EXPECT_TRUE(a.origin_allowed("https://example.com"));
  EXPECT_TRUE(a.origin_allowed("HTTPS://EXAMPLE.COM"));
  EXPECT_TRUE(a.origin_allowed("http://localhost:3000"));
  EXPECT_FALSE(a.origin_allowed("http://example.com"));
  EXPECT_FALSE(a.origin_allowed("https://example.com:443"));
  EXPECT_FALSE(a.origin_allowed("https://example.com.evil.net"));
  EXPECT_FALSE(a.origin_allowed("https://www.example.com"));
  EXPECT_FALSE(a.origin_allowed("http://localhost:30000"));
  EXPECT_FALSE(a.origin_allowed("http://localhost"));
  EXPECT_FALSE(a.origin_allowed(""));
  EXPECT_FALSE(a.origin_allowed("null"));
}

TEST(Origin, Wildcard) {
  Config c = parse_ok(route("a", "/a", "origins = https://*.example.com\n"));
  Router r = build_router(c);
  const Route& a = *r.routes()[0];
  EXPECT_TRUE(a.origin_allowed("https://a.example.com"));
  EXPECT_TRUE(a.origin_allowed("https://a.b.example.com"));
  EXPECT_TRUE(a.origin_allowed("https://WWW.Example.COM"));
  EXPECT_FALSE(a.origin_allowed("https://example.com"));
  EXPECT_FALSE(a.origin_allowed("https://.example.com"));
  EXPECT_FALSE(a.origin_allowed("https://evil.com/.example.com"));
  EXPECT_FALSE(a.origin_allowed("https://evil.com:1/.example.com"));
  EXPECT_FALSE(a.origin_allowed("https://evilexample.com"));
  EXPECT_FALSE(a.origin_allowed("http://a.example.com"));
  EXPECT_FALSE(a.origin_allowed("wss://a.example.com"));
  EXPECT_FALSE(a.origin_allowed("https://a.example.com:8443"));
  EXPECT_FALSE(a.origin_allowed("https://a.example.com.evil.net"));
  EXPECT_FALSE(a.origin_allowed("a.example.com"));
  // The host is parsed, not matched as text: what follows it cannot pose as the domain.
  EXPECT_FALSE(a.origin_allowed("https://evil.com#.example.com"));
  EXPECT_FALSE(a.origin_allowed("https://evil.com@x.example.com"));
  EXPECT_FALSE(a.origin_allowed("https://evil.com?.example.com"));
  EXPECT_FALSE(a.origin_allowed("https://evil.com\\.example.com"));
  EXPECT_FALSE(a.origin_allowed("https://a..example.com"));
  EXPECT_FALSE(a.origin_allowed("https://*.example.com"));
  EXPECT_FALSE(a.origin_allowed("https://a.example.com:"));
}

TEST(Origin, WildcardWithPort) {
  Config c = parse_ok(route("a", "/a", "origins = https://*.example.com:8443, https://x.org\n"));
  Router r = build_router(c);
  const Route& a = *r.routes()[0];
  EXPECT_TRUE(a.origin_allowed("https://a.example.com:8443"));
  EXPECT_FALSE(a.origin_allowed("https://a.example.com"));
  EXPECT_FALSE(a.origin_allowed("https://a.example.com:8444"));
  EXPECT_TRUE(a.origin_allowed("https://x.org"));  // the second pattern still applies
}

// ---- Subprotocols ----

TEST(Protocols, FirstOfClientsOfferThatRouteAccepts) {
  Config c = parse_ok(route("a", "/a", "protocols = binary, chat, v2.json\n"));
  Router r = build_router(c);
  const Route& a = *r.routes()[0];
  using V = std::vector<std::string_view>;
  // The client's order decides, not the route's.
  EXPECT_EQ(a.select_protocol(V{"chat", "binary"}), "chat");
  EXPECT_EQ(a.select_protocol(V{"binary", "chat"}), "binary");
  EXPECT_EQ(a.select_protocol(V{"mqtt", "v2.json", "chat"}), "v2.json");
  EXPECT_EQ(a.select_protocol(V{"mqtt", "soap"}), "");
  EXPECT_EQ(a.select_protocol(V{}), "");
  // Exact names only.
  EXPECT_EQ(a.select_protocol(V{"chat2", "bin"}), "");
}

TEST(Protocols, RouteWithoutProtocolsSelectsNone) {
  Config c = parse_ok(route("a", "/a"));
  Router r = build_router(c);
  const Route& a = *r.routes()[0];
  EXPECT_EQ(a.select_protocol({"chat", "binary"}), "");
}

TEST(Protocols, NeverAnswersWithAProtocolTheClientDidNotOffer) {
  Config c = parse_ok(route("a", "/a", "protocols = chat, binary\n"));
  Router r = build_router(c);
  const Route& a = *r.routes()[0];
  std::vector<std::vector<std::string_view>> offers = {
      {}, {"x"}, {"chat"}, {"binary"}, {"y", "binary"}, {"CHAT"}, {"chat ", "binary"}};
  for (const auto& offer : offers) {
    std::string_view chosen = a.select_protocol(offer);
    if (chosen.empty()) continue;
    bool offered = false;
    for (std::string_view o : offer) offered = offered || o == chosen;
    EXPECT_TRUE(offered) << chosen;
  }
  // The result is a view of the client's own string.
  std::string mine = "binary";
  std::vector<std::string_view> offer = {mine};
  EXPECT_EQ(a.select_protocol(offer).data(), mine.data());
}

// ---- Implicit base64 and binary on bridged routes ----

// One route with the given backend and extra lines.
std::string backend_route(const std::string& backend, const std::string& extra = "") {
  return "[route a]\npath = /a\nbackend = " + backend + "\n" + extra;
}

TEST(Protocols, BridgedRouteWithoutListAcceptsBase64AndBinary) {
  using V = std::vector<std::string_view>;
  for (const char* backend : {"tcp://127.0.0.1:5900", "unix:/run/app.sock"}) {
    for (const char* type : {"binary", "text"}) {
      SCOPED_TRACE(std::string(backend) + " " + type);
      Config c = parse_ok(backend_route(backend, std::string("type = ") + type + "\n"));
      Router r = build_router(c);
      const Route& a = *r.routes()[0];
      EXPECT_EQ(a.select_protocol(V{"base64"}), "base64");
      EXPECT_EQ(a.select_protocol(V{"binary"}), "binary");
      EXPECT_EQ(a.select_protocol(V{"base64"}, true), "base64");
      EXPECT_EQ(a.select_protocol(V{"binary"}, true), "") << "hybi-00 carries text only";
      EXPECT_EQ(a.select_protocol(V{"chat", "soap"}), "");
      EXPECT_EQ(a.select_protocol(V{}), "");
      EXPECT_EQ(a.select_protocol(V{}, true), "");
      // Exact names only.
      EXPECT_EQ(a.select_protocol(V{"Base64", "BINARY", "base64 ", "bin"}), "");
    }
  }
}

TEST(Protocols, ImplicitProtocolsFollowTheClientsOrder) {
  using V = std::vector<std::string_view>;
  Config c = parse_ok(backend_route("tcp://127.0.0.1:5900"));
  Router r = build_router(c);
  const Route& a = *r.routes()[0];
  EXPECT_EQ(a.select_protocol(V{"binary", "base64"}), "binary");
  EXPECT_EQ(a.select_protocol(V{"base64", "binary"}), "base64");
  EXPECT_EQ(a.select_protocol(V{"chat", "binary", "base64"}), "binary");
  // hybi-00 skips binary and takes the next it can use.
  EXPECT_EQ(a.select_protocol(V{"binary", "base64"}, true), "base64");
  EXPECT_EQ(a.select_protocol(V{"binary", "chat"}, true), "");
  // The answer is the client's own string.
  std::string mine = "base64";
  EXPECT_EQ(a.select_protocol(V{mine}).data(), mine.data());
}

TEST(Protocols, AListDisablesTheImplicitOnes) {
  using V = std::vector<std::string_view>;
  for (const char* backend : {"tcp://127.0.0.1:5900", "unix:/run/app.sock"}) {
    SCOPED_TRACE(backend);
    Config c = parse_ok(backend_route(backend, "protocols = chat\n"));
    Router r = build_router(c);
    const Route& a = *r.routes()[0];
    EXPECT_EQ(a.select_protocol(V{"base64", "binary"}), "");
    EXPECT_EQ(a.select_protocol(V{"base64"}, true), "");
    EXPECT_EQ(a.select_protocol(V{"base64", "chat"}), "chat");
    EXPECT_EQ(a.select_protocol(V{"binary", "chat"}, true), "chat");
  }
  // Listed explicitly, they are accepted as any listed name: the list is the whole truth.
  Config c = parse_ok(backend_route("tcp://127.0.0.1:5900", "protocols = binary, base64\n"));
  Router r = build_router(c);
  const Route& a = *r.routes()[0];
  EXPECT_EQ(a.select_protocol(V{"base64"}), "base64");
  EXPECT_EQ(a.select_protocol(V{"binary", "base64"}), "binary");
  EXPECT_EQ(a.select_protocol(V{"chat"}), "");
  // Even listed, binary is not named to a hybi-00 client, whose frames stay text.
  EXPECT_EQ(a.select_protocol(V{"binary", "base64"}, true), "base64");
  EXPECT_EQ(a.select_protocol(V{"binary"}, true), "");
}

TEST(Protocols, EchoAndWsRoutesGetNoImplicitOnes) {
  using V = std::vector<std::string_view>;
  for (const char* backend : {"echo", "ws://127.0.0.1:9001/socket"}) {
    SCOPED_TRACE(backend);
    Config c = parse_ok(backend_route(backend));
    Router r = build_router(c);
    const Route& a = *r.routes()[0];
    EXPECT_EQ(a.select_protocol(V{"base64"}), "");
    EXPECT_EQ(a.select_protocol(V{"binary"}), "");
    EXPECT_EQ(a.select_protocol(V{"base64", "binary"}, true), "");
    Config listed = parse_ok(backend_route(backend, "protocols = chat, base64\n"));
    Router rl = build_router(listed);
    const Route& b = *rl.routes()[0];
    EXPECT_EQ(b.select_protocol(V{"binary", "base64"}), "base64") << "only the list";
    EXPECT_EQ(b.select_protocol(V{"binary"}), "");
    EXPECT_EQ(b.select_protocol(V{"chat"}, true), "chat");
  }
}

}  // namespace
