#include <doctest/doctest.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "flow/proxy/network/client_hello.hpp"

using namespace flow::proxy;

namespace {

struct HelloOptions {
  const char* sni = nullptr;
  std::string alpn;  // wire form: length-prefixed names
  int max_version = 0;
};

// The first flight OpenSSL's own client writes: SSL_connect once over memory BIOs.
std::string openssl_client_hello(const HelloOptions& options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) throw std::runtime_error("SSL_CTX_new");
  if (options.max_version != 0) SSL_CTX_set_max_proto_version(ctx, options.max_version);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  // SSL_set_tlsext_host_name, without the macro's C cast.
  if (options.sni != nullptr) {
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(options.sni));
  }
  if (!options.alpn.empty()) {
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(options.alpn.data()),
                        static_cast<unsigned>(options.alpn.size()));
  }
  SSL_set_connect_state(ssl);
  const int rc = SSL_connect(ssl);
  const bool waiting = rc < 0 && SSL_get_error(ssl, rc) == SSL_ERROR_WANT_READ;
  char* bytes = nullptr;
  const long size = BIO_get_mem_data(out, &bytes);
  std::string hello(bytes, static_cast<std::size_t>(size));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  if (!waiting || hello.empty()) throw std::runtime_error("OpenSSL wrote no ClientHello");
  return hello;
}

std::string be16(std::size_t n) {
  return {static_cast<char>((n >> 8) & 0xff), static_cast<char>(n & 0xff)};
}

std::string be24(std::size_t n) {
  return static_cast<char>((n >> 16) & 0xff) + be16(n & 0xffff);
}

std::string extension(std::uint16_t type, const std::string& data) {
  return be16(type) + be16(data.size()) + data;
}

std::string sni_extension(const std::string& name) {
  const std::string entry = std::string(1, '\0') + be16(name.size()) + name;
  return extension(tls_ext_server_name, be16(entry.size()) + entry);
}

// A ClientHello body from its parts (RFC 8446 §4.1.2).
struct HelloParts {
  std::string version = "\x03\x03";
  std::string session_id = std::string(32, 's');
  std::string suites = "\x13\x01\x13\x02";
  std::string compression = std::string(1, '\0');
  std::string extensions = sni_extension("example.com");
  bool extensions_block = true;
};

std::string body(const HelloParts& p) {
  std::string out = p.version + std::string(32, 'r');
  out += static_cast<char>(p.session_id.size());
  out += p.session_id;
  out += be16(p.suites.size()) + p.suites;
  out += static_cast<char>(p.compression.size());
  out += p.compression;
  if (p.extensions_block) out += be16(p.extensions.size()) + p.extensions;
  return out;
}

std::string handshake(const std::string& hello_body) {
  return "\x01" + be24(hello_body.size()) + hello_body;
}

// Handshake bytes cut into records of at most `fragment` bytes.
std::string records(const std::string& handshake_bytes, std::size_t fragment = 16384,
                    std::string header_start = "\x16\x03\x01") {
  std::string out;
  for (std::size_t at = 0; at < handshake_bytes.size(); at += fragment) {
    const std::string piece = handshake_bytes.substr(at, fragment);
    out += header_start + be16(piece.size()) + piece;
  }
  return out;
}

std::string wire(const HelloParts& parts) {
  return records(handshake(body(parts)));
}

// The handshake message inside a single-record ClientHello.
std::string handshake_of(const std::string& single_record) {
  return single_record.substr(5);
}

std::string alpn_wire(std::initializer_list<std::string> names) {
  std::string out;
  for (const auto& n : names) out += static_cast<char>(n.size()) + n;
  return out;
}

ClientHelloStatus status_of(const std::string& bytes) {
  return read_client_hello(bytes).status;
}

std::string reason_of(const std::string& bytes) {
  return std::string(read_client_hello(bytes).reason);
}

}  // namespace

TEST_CASE("an OpenSSL ClientHello with SNI and ALPN gives the name lower-cased and the protocols") {
  const std::string hello =
      openssl_client_hello({"API.Example.COM", alpn_wire({"h2", "http/1.1"}), 0});
  const auto read = read_client_hello(hello);
  REQUIRE(read.status == ClientHelloStatus::ok);
  REQUIRE(read.hello.sni);
  CHECK(*read.hello.sni == "api.example.com");
  CHECK(read.hello.alpn == std::vector<std::string>{"h2", "http/1.1"});
  CHECK(read.hello.legacy_version == 0x0303);
  const auto& versions = read.hello.supported_versions;
  CHECK(std::find(versions.begin(), versions.end(), 0x0304) != versions.end());
  CHECK_FALSE(read.hello.encrypted_client_hello);
  CHECK(read.consumed == hello.size());
  CHECK(classify_first_bytes(hello) == FirstBytes::tls_client_hello);
}

TEST_CASE("a ClientHello without server_name or ALPN reads as no name and no protocols") {
  const auto read = read_client_hello(openssl_client_hello({}));
  REQUIRE(read.status == ClientHelloStatus::ok);
  CHECK_FALSE(read.hello.sni);
  CHECK(read.hello.alpn.empty());
}

TEST_CASE("an IP literal sent as SNI is treated as no name") {
  for (const char* ip : {"127.0.0.1", "::1", "2001:db8::7"}) {
    const auto read = read_client_hello(wire({.extensions = sni_extension(ip)}));
    REQUIRE(read.status == ClientHelloStatus::ok);
    CHECK_FALSE(read.hello.sni);
  }
}

TEST_CASE("a TLS 1.2-only ClientHello carries no supported_versions") {
  const auto read = read_client_hello(openssl_client_hello({"a.example", "", TLS1_2_VERSION}));
  REQUIRE(read.status == ClientHelloStatus::ok);
  CHECK(read.hello.legacy_version == 0x0303);
  CHECK(read.hello.supported_versions.empty());
  CHECK(read.hello.sni == "a.example");
}

TEST_CASE("every proper prefix of a ClientHello needs more bytes, never malformed") {
  for (const std::string& hello :
       {openssl_client_hello({"api.example.com", alpn_wire({"http/1.1"}), 0}),
        openssl_client_hello({}),
        records(handshake_of(openssl_client_hello({"x.example", "", 0})), 7)}) {
    CAPTURE(hello.size());
    for (std::size_t n = 0; n < hello.size(); ++n) {
      CAPTURE(n);
      const auto read = read_client_hello(std::string_view(hello).substr(0, n));
      REQUIRE(read.status == ClientHelloStatus::need_more);
      REQUIRE(classify_first_bytes(std::string_view(hello).substr(0, n)) != FirstBytes::other);
    }
    CHECK(status_of(hello) == ClientHelloStatus::ok);
  }
}

TEST_CASE("a ClientHello fragmented across records reads the same at every fragment size") {
  const std::string single = openssl_client_hello({"frag.example", alpn_wire({"h2"}), 0});
  const std::string message = handshake_of(single);
  for (std::size_t size = 1; size <= message.size(); ++size) {
    CAPTURE(size);
    const std::string split = records(message, size);
    const auto read = read_client_hello(split);
    REQUIRE(read.status == ClientHelloStatus::ok);
    CHECK(read.hello.sni == "frag.example");
    CHECK(read.hello.alpn == std::vector<std::string>{"h2"});
    CHECK(read.consumed == split.size());
  }
}

TEST_CASE("bytes after the ClientHello's records are left alone") {
  const std::string hello = openssl_client_hello({"a.example", "", 0});
  const std::string followed = hello + "\x17\x03\x03garbage";
  const auto read = read_client_hello(followed);
  REQUIRE(read.status == ClientHelloStatus::ok);
  CHECK(read.consumed == hello.size());
}

TEST_CASE("the ECH extension is reported, and the hello still reads") {
  HelloParts parts;
  parts.extensions += extension(tls_ext_encrypted_client_hello, std::string(40, 'e'));
  const auto read = read_client_hello(wire(parts));
  REQUIRE(read.status == ClientHelloStatus::ok);
  CHECK(read.hello.encrypted_client_hello);
  CHECK(read.hello.sni == "example.com");
}

TEST_CASE("a TLS 1.2 hello may end before the extensions block") {
  const auto read = read_client_hello(wire({.extensions_block = false}));
  REQUIRE(read.status == ClientHelloStatus::ok);
  CHECK_FALSE(read.hello.sni);
}

TEST_CASE("records that are not a TLS handshake are malformed") {
  const std::string message = handshake_of(wire({}));
  CHECK(reason_of(records(message, 16384, "\x17\x03\x03")) == "record_content_type");
  CHECK(reason_of(records(message, 16384, "\x15\x03\x03")) == "record_content_type");
  CHECK(reason_of(records(message, 16384, "\x16\x03\x00")) == "record_version");
  CHECK(reason_of(records(message, 16384, "\x16\x03\x05")) == "record_version");
  CHECK(reason_of(records(message, 16384, "\x16\x02\x01")) == "record_version");
  CHECK(reason_of(std::string("\x16\x03\x01\x00\x00", 5)) == "record_length");
  CHECK(reason_of(std::string("\x16\x03\x01\x40\x01", 5)) == "record_length");
  // An alert record after the first fragment.
  const std::string first = records(message.substr(0, 10));
  CHECK(reason_of(first + records(message.substr(10), 16384, "\x15\x03\x03")) ==
        "record_content_type");
}

TEST_CASE("a handshake that is not a well-sized ClientHello is malformed") {
  std::string message = handshake_of(wire({}));
  std::string server_hello = message;
  server_hello[0] = '\x02';
  CHECK(reason_of(records(server_hello)) == "handshake_type");
  CHECK(reason_of(records("\x01" + be24(10) + std::string(10, 'x'))) == "handshake_length");
  // A record longer than the handshake message it carries.
  CHECK(reason_of(records(message + "zz")) == "record_trailing_data");
  // Handshake length one less than the body: the body's last byte is left in the record.
  std::string short_length = message;
  short_length.replace(1, 3, be24(message.size() - 5));
  CHECK(reason_of(records(short_length)) == "record_trailing_data");
}

TEST_CASE("each length inside a ClientHello is checked") {
  CHECK(reason_of(wire({.session_id = std::string(33, 's')})) == "session_id_length");
  CHECK(reason_of(wire({.suites = "\x13\x01\x13"})) == "cipher_suites_length");
  CHECK(reason_of(wire({.suites = ""})) == "cipher_suites_length");
  CHECK(reason_of(wire({.compression = ""})) == "compression_methods");

  // The extensions block claims more than the handshake holds.
  std::string overlong = body({});
  const std::size_t block_at = overlong.size() - sni_extension("example.com").size() - 2;
  overlong.replace(block_at, 2, be16(0x0fff));
  CHECK(reason_of(records(handshake(overlong))) == "extensions_length");
  // Bytes after the extensions block.
  CHECK(reason_of(records(handshake(body({}) + "x"))) == "handshake_trailing_data");
  // One extension claims more than the block holds.
  CHECK(reason_of(wire({.extensions = be16(0) + be16(200) + "abc"})) == "extension_length");
  CHECK(reason_of(wire({.extensions = std::string("\x00", 1)})) == "extension_length");
  CHECK(reason_of(wire({.extensions = sni_extension("a.example") + sni_extension("b.example")})) ==
        "extension_duplicate");
}

TEST_CASE("server_name must hold exactly one valid host_name") {
  const auto server_name = [](const std::string& list) {
    return wire({.extensions = extension(tls_ext_server_name, be16(list.size()) + list)});
  };
  CHECK(reason_of(server_name(std::string("\x01", 1) + be16(3) + "a.b")) == "server_name_type");
  CHECK(reason_of(server_name(std::string("\x00", 1) + be16(0))) == "server_name_length");
  CHECK(reason_of(server_name(std::string("\x00", 1) + be16(9) + "a.b")) == "server_name_length");
  const std::string one = std::string("\x00", 1) + be16(3) + "a.b";
  CHECK(reason_of(server_name(one + one)) == "server_name_list");
  CHECK(reason_of(wire({.extensions = extension(tls_ext_server_name, "")})) ==
        "server_name_length");
  for (const char* bad : {"exa mple.com", "example.com.", "-a.example", "a..example", "1.2.3",
                          "evil\x01.example", "caf\xc3\xa9.example"}) {
    CAPTURE(bad);
    CHECK(reason_of(wire({.extensions = sni_extension(bad)})) == "server_name_invalid");
  }
}

TEST_CASE("ALPN and supported_versions lengths are checked") {
  const auto alpn = [](const std::string& list) {
    return wire({.extensions = extension(tls_ext_alpn, be16(list.size()) + list)});
  };
  CHECK(reason_of(alpn("")) == "alpn_length");
  CHECK(reason_of(alpn(std::string("\x00", 1))) == "alpn_name");
  CHECK(reason_of(alpn("\x05h2")) == "alpn_name");
  const auto versions = [](const std::string& list) {
    return wire({.extensions =
                     extension(tls_ext_supported_versions, static_cast<char>(list.size()) + list)});
  };
  CHECK(reason_of(versions("\x03")) == "supported_versions_length");
  CHECK(reason_of(versions("\x03\x04\x03")) == "supported_versions_length");
  const auto ok = read_client_hello(versions("\x03\x04\x03\x03"));
  REQUIRE(ok.status == ClientHelloStatus::ok);
  CHECK(ok.hello.supported_versions == std::vector<std::uint16_t>{0x0304, 0x0303});
}

TEST_CASE("a ClientHello that would need more than the cap is too large, not need-more") {
  // The handshake header alone announces 1 MiB: refused from the first 9 bytes.
  const std::string announced = std::string("\x16\x03\x01\x40\x00\x01\x10\x00\x00", 9);
  const auto read = read_client_hello(announced);
  CHECK(read.status == ClientHelloStatus::too_large);
  CHECK(read.reason == "handshake_length");

  // Padding that takes the hello past a smaller cap.
  HelloParts padded;
  padded.extensions += extension(21, std::string(3000, '\0'));
  const std::string big = wire(padded);
  CHECK(read_client_hello(big, 2048).status == ClientHelloStatus::too_large);
  CHECK(read_client_hello(big).status == ClientHelloStatus::ok);
  // Many tiny records: the record overhead runs into the cap before the message is complete.
  const std::string tiny = records(handshake_of(big), 1);
  CHECK(read_client_hello(tiny, 4096).status == ClientHelloStatus::too_large);
  // Told as soon as the bytes still needed would cross the cap: after 4092 bytes (682 whole
  // records of 6 bytes), the next record header alone would end at 4097.
  CHECK(read_client_hello(std::string_view(tiny).substr(0, 4091), 4096).status ==
        ClientHelloStatus::need_more);
  CHECK(read_client_hello(std::string_view(tiny).substr(0, 4092), 4096).status ==
        ClientHelloStatus::too_large);
  // A hello of exactly the cap reads; one byte less of cap does not.
  const std::string hello = openssl_client_hello({"a.example", "", 0});
  CHECK(read_client_hello(hello, hello.size()).status == ClientHelloStatus::ok);
  CHECK(read_client_hello(hello, hello.size() - 1).status == ClientHelloStatus::too_large);
}

TEST_CASE("the first bytes tell a ClientHello, an HTTP request line and anything else apart") {
  using std::string_literals::operator""s;
  struct Row {
    std::string bytes;
    FirstBytes kind;
  };
  const std::vector<Row> rows = {
      {"", FirstBytes::need_more},
      {"\x16"s, FirstBytes::need_more},
      {"\x16\x03\x01\x02\x00"s, FirstBytes::need_more},
      {"\x16\x03\x01\x02\x00\x01"s, FirstBytes::tls_client_hello},
      {"\x16\x03\x03\x02\x00\x01"s, FirstBytes::tls_client_hello},
      {"\x16\x03\x01\x02\x00\x02"s, FirstBytes::other},
      {"\x16\x03\x00"s, FirstBytes::other},
      {"\x16\x03\x01\x00\x00"s, FirstBytes::other},
      {"\x17\x03\x03\x00\x10"s, FirstBytes::other},
      {"\x80\x2e\x01\x03\x01"s, FirstBytes::other},  // SSLv2-compatible hello
      {"G", FirstBytes::need_more},
      {"GET", FirstBytes::need_more},
      {"GET ", FirstBytes::need_more},
      {"GET /", FirstBytes::http},
      {"GET / HTTP/1.1\r\n", FirstBytes::http},
      {"POST http://a.example/ HTTP/1.1", FirstBytes::http},
      {"CONNECT a.example:443 HTTP/1.1", FirstBytes::http},
      {"OPTIONS * HTTP/1.1", FirstBytes::http},
      {"M-SEARCH * HTTP/1.1", FirstBytes::http},
      {"get / HTTP/1.1", FirstBytes::other},
      {"GET  /", FirstBytes::other},
      {"GET\t/", FirstBytes::other},
      {" GET /", FirstBytes::other},
      {"SSH-2.0-OpenSSH_9.2p1 Debian", FirstBytes::other},
      {"PRI * HTTP/2.0", FirstBytes::http},
      {std::string(24, 'A'), FirstBytes::other},
      {std::string(23, 'A'), FirstBytes::need_more},
  };
  for (const auto& row : rows) {
    CAPTURE(row.bytes);
    CHECK(first_bytes_name(classify_first_bytes(row.bytes)) == first_bytes_name(row.kind));
  }
}

TEST_CASE("SNI host names follow DNS rules") {
  for (const char* good : {"a", "example.com", "A-B.example", "xn--caf-dma.example", "my_host.lan",
                           "1a.example", "a.b2"}) {
    CAPTURE(good);
    CHECK(is_sni_host_name(good));
  }
  const std::string long_label(64, 'a');
  std::string too_long;
  while (too_long.size() < 254) too_long += "abcdefghi.";
  too_long += "com";
  for (const std::string& bad :
       {std::string(), std::string("."), std::string("a."), std::string(".a"), std::string("a-"),
        std::string("a.-b"), long_label + ".example", too_long, std::string("1.2.3.4"),
        std::string("a.123"), std::string("a b"), std::string("a\0b", 3), std::string("a/b")}) {
    CAPTURE(bad);
    CHECK_FALSE(is_sni_host_name(bad));
  }
}
