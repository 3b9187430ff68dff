#pragma once
// The gtest fixture shared by the integration tests: a temp dir, a FakeUpstream, a config and
// policy written per test (tests adjust `config_` / `policy_` before start_proxy()), the real
// clawgate binary, and helpers that check clawgate's error bodies (SPEC §2 "Error bodies").
//
// Environment: CLAWGATE_ITEST_BINARY=<path> runs the suite against another clawgate build (a
// sanitizer build, say); CLAWGATE_ITEST_VERBOSE=1 prints clawgate's stderr after every test (it
// is always printed after a failing one).

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "integration/harness.hpp"

namespace clawgate::itest {

inline constexpr const char* kGatewayToken = "gw-secret-token-4b1d9f3e7a2c";
inline constexpr const char* kEmployeeToken = "client-token-employee-001-8f3a91c2";
inline constexpr const char* kContractorToken = "client-token-contractor-7-51d0e6aa";
inline constexpr const char* kAdminToken = "admin-token-manager-1-c0ffee42d00d";

inline constexpr const char* kChatPath = "/v1/chat/completions";
inline constexpr const char* kResponsesPath = "/v1/responses";
inline constexpr const char* kToolsPath = "/tools/invoke";
inline constexpr const char* kModelsPath = "/v1/models";

enum class Shape { openai, tools };

std::string clawgate_binary();
nlohmann::json default_config(std::uint16_t upstream_port);
nlohmann::json default_policy();
std::vector<std::string> default_env();  // PATH + OPENCLAW_GATEWAY_TOKEN

Headers bearer(const std::string& token, Headers more = {});
Headers employee(Headers more = {});  // Authorization: Bearer <employee token> + JSON type

// Checks a clawgate-generated error response: status, X-Clawgate-Trace-Id (32 lower-case hex),
// the body shape, the family/code and that error.trace_id equals the header.
// Use with EXPECT_NO_FATAL_FAILURE / ASSERT_NO_FATAL_FAILURE.
void expect_error(const HttpResponse& r, int status, const std::string& code, Shape shape);
bool is_trace_id(const std::string& s);
std::string family_for(int status);
nlohmann::json json_body(const HttpResponse& r);  // discarded value if not JSON

// Stops a FakeUpstream when it goes out of scope. Declare it after the locals a handler captures
// by reference, so no handler (or proxy probe) can touch them once the test body is left.
class ScopedUpstreamStop {
 public:
  explicit ScopedUpstreamStop(FakeUpstream& u) : u_(u) {}
  ~ScopedUpstreamStop() { u_.stop(); }
  ScopedUpstreamStop(const ScopedUpstreamStop&) = delete;
  ScopedUpstreamStop& operator=(const ScopedUpstreamStop&) = delete;

 private:
  FakeUpstream& u_;
};

class ProxyTest : public ::testing::Test {
 protected:
  [[nodiscard]] ScopedUpstreamStop stop_upstream_at_exit() {
    return ScopedUpstreamStop(*upstream_);
  }

  void SetUp() override;
  void TearDown() override;

  // Writes config.json + policy.json into the temp dir and starts the binary; fails the test
  // (fatally) unless both listening lines appear.
  void start_proxy();
  // Starts with the given config text; returns the result without asserting (bad-config tests).
  ClawgateProcess::StartResult start_raw(const std::string& config_text,
                                         std::vector<std::string> env);

  std::uint16_t port() const { return proxy_->proxy_port(); }
  std::uint16_t admin_port() const { return proxy_->admin_port(); }

  HttpResponse post(const std::string& path, const std::string& body, Headers headers);
  HttpResponse get(const std::string& path, Headers headers);

  TempDir dir_;
  std::unique_ptr<FakeUpstream> upstream_;
  nlohmann::json config_;
  nlohmann::json policy_;
  std::unique_ptr<ClawgateProcess> proxy_;
  bool expect_clean_exit_ = true;  // TearDown checks exit code 0 after SIGTERM
};

}  // namespace clawgate::itest
