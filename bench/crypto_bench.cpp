// SHA-256 and HMAC-SHA256 as clawgate computes them (core/crypto: OpenSSL's SHA256_* functions
// with the HMAC pads precomputed) next to the EVP routes it used before (EVP_MAC for the HMAC,
// EVP_Digest for the digest), on the sizes of one allowed chat: the 1.5 KB request body and an
// audit record of about 840 bytes fed in the audit chain's 11 pieces.
#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>

#include "clawgate/core/crypto.hpp"

namespace {

std::string chat_body() {
  std::ifstream in(std::string(CLAWGATE_BENCH_BODIES) + "/chat.json", std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (s.empty()) throw std::runtime_error("bench/bodies/chat.json is missing");
  return s;
}

std::string letters(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('a' + i % 26));
  return s;
}

// An audit record's pieces as JsonlLog::chain feeds them: prev, "\n", head, identity, ...
struct Record {
  std::string prev = letters(64), head = letters(300), identity = letters(60), route = letters(40),
              tail = letters(250);
  // Calls f with the pieces (an initializer_list only lives as long as its full expression).
  template <class F>
  void with_pieces(F&& f) const {
    f(std::initializer_list<std::string_view>{prev, "\n", head, identity, ",\"prev\":\"", prev,
                                              "\"", route, ",\"seq\":", "12345", tail});
  }
};

const std::string kKey(32, 'k');

void BM_HmacRecord(benchmark::State& state) {
  const clawgate::core::HmacSha256 mac(kKey);
  const Record r;
  for (auto _ : state) {
    r.with_pieces(
        [&](std::initializer_list<std::string_view> p) { benchmark::DoNotOptimize(mac.hex(p)); });
  }
}
BENCHMARK(BM_HmacRecord);

// The EVP_MAC route: one context keyed once and restarted with a null key per message.
void BM_HmacRecordEvpMac(benchmark::State& state) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(kKey.data()), kKey.size(), params) !=
      1) {
    state.SkipWithError("EVP_MAC_init failed");
  }
  const Record r;
  std::array<unsigned char, 32> out{};
  for (auto _ : state) {
    std::size_t len = 0;
    EVP_MAC_init(ctx, nullptr, 0, nullptr);
    r.with_pieces([&](std::initializer_list<std::string_view> pieces) {
      for (const std::string_view p : pieces) {
        EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(p.data()), p.size());
      }
    });
    EVP_MAC_final(ctx, out.data(), &len, out.size());
    benchmark::DoNotOptimize(clawgate::core::to_hex(out.data(), out.size()));
  }
  EVP_MAC_CTX_free(ctx);
}
BENCHMARK(BM_HmacRecordEvpMac);

void BM_Sha256Body(benchmark::State& state) {
  const std::string body = chat_body();
  for (auto _ : state) benchmark::DoNotOptimize(clawgate::core::sha256_hex(body));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_Sha256Body);

void BM_Sha256BodyEvpDigest(benchmark::State& state) {
  const std::string body = chat_body();
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  std::array<unsigned char, 32> out{};
  for (auto _ : state) {
    unsigned len = 0;
    EVP_Digest(body.data(), body.size(), out.data(), &len, md, nullptr);
    benchmark::DoNotOptimize(clawgate::core::to_hex(out.data(), out.size()));
  }
  EVP_MD_free(md);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_Sha256BodyEvpDigest);

}  // namespace

BENCHMARK_MAIN();
