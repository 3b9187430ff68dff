// Unit tests for path_under (SPEC §5): lexical normalisation, traversal that leaves the folder
// (even when it comes back), relative paths, sibling prefixes, NUL.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "clawgate/policy/policy.hpp"

namespace clawgate::policy {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;

const std::string kSrc = "policies/p.json";

json doc_for(const json& constraint) {
  return json{{"version", 1},
              {"rules", json::array({{{"id", "p"},
                                      {"match", {{"args", {{"/args/path", constraint}}}}},
                                      {"decision", "allow"}}})}};
}

std::variant<PolicyPtr, LoadError> parse(const json& constraint) {
  return parse_policy(doc_for(constraint).dump(), kSrc);
}

Constraint load(const std::vector<std::string>& folders) {
  auto r = parse({{"path_under", folders}});
  if (auto* e = std::get_if<LoadError>(&r)) {
    ADD_FAILURE() << "unexpected error: " << e->message;
    return Constraint{};
  }
  return std::get<PolicyPtr>(r)->rules.at(0).match.args.at(0).second;
}

bool under(const std::vector<std::string>& folders, const json& path) {
  return load(folders).holds(&path);
}

const std::vector<std::string> kData = {"/srv/data"};

TEST(PathUnder, InsideAndEqual) {
  EXPECT_TRUE(under(kData, "/srv/data"));
  EXPECT_TRUE(under(kData, "/srv/data/"));
  EXPECT_TRUE(under(kData, "/srv/data/x"));
  EXPECT_TRUE(under(kData, "/srv/data/a/b/c.txt"));
  EXPECT_TRUE(under(kData, "//srv//data///x"));    // "//" collapses
  EXPECT_TRUE(under(kData, "/srv/./data/./x/."));  // "." vanishes
  EXPECT_TRUE(under(kData, "/srv/data/a/../b"));   // ".." that stays inside
  EXPECT_TRUE(under(kData, "/srv/data/a/b/../../c"));
  EXPECT_TRUE(under({"/"}, "/etc/passwd"));
}

TEST(PathUnder, SiblingsAndParentsAreOutside) {
  EXPECT_FALSE(under(kData, "/srv/database"));
  EXPECT_FALSE(under(kData, "/srv/data2/x"));
  EXPECT_FALSE(under(kData, "/srv"));
  EXPECT_FALSE(under(kData, "/"));
  EXPECT_FALSE(under(kData, "/etc/passwd"));
  EXPECT_FALSE(under(kData, "/SRV/data/x"));  // case-sensitive
}

TEST(PathUnder, TraversalNeverMatches) {
  EXPECT_FALSE(under(kData, "/srv/data/../etc/passwd"));
  EXPECT_FALSE(under(kData, "/srv/data/.."));
  EXPECT_FALSE(under(kData, "/srv/data/../data/x"));  // leaves, then re-enters
  EXPECT_FALSE(under(kData, "/srv/data/a/../../data/x"));
  EXPECT_FALSE(under(kData, "/srv/data/a/../../../srv/data/x"));
  EXPECT_FALSE(under(kData, "/srv/x/../data/y"));  // ".." before entering
  EXPECT_FALSE(under(kData, "/../srv/data/x"));
  EXPECT_FALSE(under({"/"}, "/.."));
  EXPECT_FALSE(under({"/"}, "/../etc"));
  EXPECT_TRUE(under(kData, "/srv/data/..x/y"));  // "..x" is a name, not a parent
  EXPECT_TRUE(under(kData, "/srv/data/.../y"));
}

TEST(PathUnder, RelativeWrongTypeAndNul) {
  EXPECT_FALSE(under(kData, "srv/data/x"));
  EXPECT_FALSE(under(kData, "./srv/data/x"));
  EXPECT_FALSE(under(kData, "~/x"));
  EXPECT_FALSE(under(kData, ""));
  EXPECT_FALSE(under(kData, std::string("/srv/data/x\0/../../etc", 22)));
  EXPECT_FALSE(under(kData, std::string("/srv/data/x\0", 12)));
  EXPECT_FALSE(under(kData, 5));
  EXPECT_FALSE(under(kData, json::array({"/srv/data/x"})));
  EXPECT_FALSE(load(kData).holds(nullptr));
  const json rel = "data/x";
  EXPECT_EQ(load(kData).why_not(&rel), "path_under: path \"data/x\" is not absolute");
  const json out = "/srv/data/../x";
  EXPECT_EQ(load(kData).why_not(&out),
            "path_under: path \"/srv/data/../x\" is not under [\"/srv/data\"]");
}

TEST(PathUnder, AnyListedFolder) {
  const std::vector<std::string> two = {"/srv/data", "/tmp/work"};
  EXPECT_TRUE(under(two, "/tmp/work/a"));
  EXPECT_TRUE(under(two, "/srv/data/a"));
  EXPECT_FALSE(under(two, "/tmp/other"));
}

TEST(PathUnder, EachElementOfAList) {
  auto r = parse({{"each", {{"path_under", {"/srv/data"}}}}});
  ASSERT_TRUE(std::holds_alternative<PolicyPtr>(r));
  const Constraint& c = std::get<PolicyPtr>(r)->rules[0].match.args[0].second;
  const json ok = {"/srv/data/a", "/srv/data/b"};
  const json bad = {"/srv/data/a", "/srv/data/../../etc/shadow"};
  EXPECT_TRUE(c.holds(&ok));
  EXPECT_FALSE(c.holds(&bad));
}

TEST(PathUnder, FoldersAreValidatedAndNormalisedAtLoad) {
  EXPECT_THAT(*load({"/srv//data/", "/srv/./data", "/"}).path_under, ElementsAre("/srv/data", "/"));
  const std::string w = kSrc + ": rules[0] (id \"p\"): match.args./args/path: path_under";
  const auto err = [](const json& c) {
    auto r = parse(c);
    return std::holds_alternative<LoadError>(r) ? std::get<LoadError>(r).message : "";
  };
  EXPECT_EQ(err({{"path_under", {"srv/data"}}}), w + "[0]: \"srv/data\": must be an absolute path");
  EXPECT_EQ(err({{"path_under", {"/srv", ""}}}), w + "[1]: \"\": must be an absolute path");
  EXPECT_EQ(err({{"path_under", {"/srv/../etc"}}}),
            w + "[0]: \"/srv/../etc\": must not contain \"..\"");
  EXPECT_EQ(err({{"path_under", {std::string("/srv\0x", 6)}}}),
            w + "[0]: \"/srv\\u0000x\": must not contain control characters");
  EXPECT_EQ(err({{"path_under", {5}}}), w + "[0]: must be a string");
  EXPECT_EQ(err({{"path_under", "/srv"}}), w + ": must be a non-empty array of absolute folders");
  EXPECT_EQ(err({{"path_under", json::array()}}),
            w + ": must be a non-empty array of absolute folders");
}

}  // namespace
}  // namespace clawgate::policy
