// The classifier: terms through one Aho-Corasick automaton over the normalised bytes, patterns
// through one RE2::Set over the raw (and decoded) bytes (SPEC §4), run only when a prefilter
// allows a match.
//
// Matcher choice, by measurement (bench/classifier_bench.cpp: classify ~64 KiB of enterprise
// prose; g++-12 -O2, CPU time on one core of a busy 2-core VM, medians of 5, +/-10%). Both rows
// do the same normalise, decode and pattern work; only the term matcher differs:
//   terms    Aho-Corasick DFA (chosen)      RE2::Set, one regex per term form
//   30       158 MB/s (table 32 KiB)        171 MB/s
//   1,000    127-149 MB/s (table 1.2 MiB)   132 MB/s
//   10,000   131-135 MB/s (table 11 MiB)    fails to compile with Unicode word boundaries
//                                           (even at max_mem 1 GiB); 92 MB/s with ASCII-only ones
// The automaton is flat in the number of terms, its memory is fixed at build time (RE2's lazy
// DFA can exhaust its cache on hostile text and fall back to the NFA) and build takes ~56 ms for
// 10,000 terms. It is a dense DFA over byte classes (bytes that occur in no term share a class):
// one table load per byte, states that report numbered last so the check is one compare.
//
// Since then (docs/performance.md has the numbers): the automaton walks four pieces of a long
// text at once; it also finds the pattern prefilter's literals, so RE2 runs only on texts that
// may match; normalize() and the decoder's search for long runs take 16 and 64 bytes at a time.
// An RE2::Set pass per text cost as much as everything else together. Then the automaton came
// to walk the raw text (fold()): ASCII case and separator runs are folded by its byte classes,
// and only the stretches around other bytes are normalised, so ASCII text is not copied at all;
// its states are laid out breadth-first, and the byte searches use AVX2 where the CPU has it.
// Then the walk took eight pieces at once in a loop written for x86-64 (simd::walk): it was
// bound by loads, and the table's cache misses at 10,000 terms showed through four pieces.
// Then the decoder found its runs in bit masks instead of byte by byte (decode.cpp). Then the
// automaton came to know whether a word goes on in front of a key (compile(): "Word boundaries"),
// so that keys found inside words no longer stop the walk only for report() to drop them.
#include "clawgate/classify/classifier.hpp"

#include <re2/filtered_re2.h>
#include <re2/re2.h>
#include <re2/set.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clawgate/classify/fold.hpp"
#include "clawgate/classify/simd.hpp"

namespace clawgate::classify {

std::string_view to_string(Tier t) {
  switch (t) {
    case Tier::green:
      return "green";
    case Tier::amber:
      return "amber";
    case Tier::red:
      return "red";
  }
  return "green";
}

std::optional<Tier> tier_from_string(std::string_view s) {
  if (s == "green") return Tier::green;
  if (s == "amber") return Tier::amber;
  if (s == "red") return Tier::red;
  return std::nullopt;
}

nlohmann::json Result::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  out["risk"] = std::string(to_string(risk));
  out["matches"] = matches_json();
  return out;
}

nlohmann::json Result::matches_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const Match& m : matches) {
    list.push_back(
        {{"tier", std::string(to_string(m.tier))}, {"term", m.term}, {"where", m.where}});
  }
  return list;
}

namespace {

// Word characters (SPEC §4): Unicode letters and digits. The text is normalised UTF-8.
bool is_word_cp(utf8proc_int32_t cp) {
  const auto cat = utf8proc_category(cp);
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

bool is_ascii_word(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

// The character starting at byte i.
bool word_at(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return is_ascii_word(c);
  utf8proc_int32_t cp = 0;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data()) + i;
  if (utf8proc_iterate(p, static_cast<utf8proc_ssize_t>(s.size() - i), &cp) <= 0) return false;
  return is_word_cp(cp);
}

// The character ending just before byte i (i > 0).
bool word_before(std::string_view s, std::size_t i) {
  std::size_t k = i - 1;
  if (static_cast<unsigned char>(s[k]) < 0x80) {
    return is_ascii_word(static_cast<unsigned char>(s[k]));
  }
  while (k > 0 && i - k < 4 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  return word_at(s, k);
}

// Aho-Corasick over bytes, compiled to a dense DFA on byte classes.
class TermMatcher {
 public:
  TermMatcher() = default;
  TermMatcher(const TermMatcher&) = delete;  // column_ points into delta_
  TermMatcher& operator=(const TermMatcher&) = delete;

  struct Entry {
    std::uint32_t id = 0;   // index into the classifier's match table
    std::uint32_t len = 0;  // bytes of the key
    bool open_end = false;  // trailing '*': no boundary needed after the key
    bool anywhere = false;  // no word boundary needed on either side (pattern prefilter atoms)
  };

  void add(const std::string& key, Entry e) { keys_.emplace_back(key, e); }

  // False when the table would not fit 31-bit offsets (millions of terms).
  bool compile() {
    // Byte classes: every byte used by a key gets its own class, the ASCII letters and digits
    // used by none share one, everything else is class 0. word[c]: class c's bytes are ASCII
    // letters or digits (word characters; others count as not, which only costs reports).
    cls_.fill(0);
    std::uint32_t next = 1;
    std::vector<bool> word(1, false);
    for (const auto& [key, e] : keys_) {
      for (const char ch : key) {
        auto& c = cls_[static_cast<unsigned char>(ch)];
        if (c == 0) {
          c = static_cast<std::uint8_t>(next++);
          word.push_back(is_ascii_word(static_cast<unsigned char>(ch)));
        }
      }
    }
    if (next < 256) {  // else those letters stay in class 0
      for (unsigned b = 0; b < 256; ++b) {
        const auto ch = static_cast<unsigned char>(b);
        if (cls_[ch] == 0 && is_ascii_word(ch) && !(ch >= 'A' && ch <= 'Z')) {
          cls_[ch] = static_cast<std::uint8_t>(next);
        }
      }
      word.push_back(true);
      ++next;
    }
    nc_ = next;
    // The trie, directly in the transition table (0 = no edge while building: the root is never
    // a child). Until the table is laid out, a trie edge has kEdge set, and a fallback (below)
    // kWordThen when a word character is in front of its target's prefix.
    std::vector<std::uint32_t> next_state(nc_, 0);
    std::vector<std::vector<Entry>> own(1);
    std::vector<std::uint32_t> depth(1, 0);
    std::vector<std::uint8_t> flags(1, 0);  // per state, Flag bits: one load for all of them
    for (const auto& [key, e] : keys_) {
      std::uint32_t s = 0;
      const std::uint8_t anywhere = e.anywhere ? kAnywhereBelow : 0;
      flags[0] |= anywhere;
      for (const char ch : key) {
        const std::uint32_t c = cls_[static_cast<unsigned char>(ch)];
        const std::size_t edge = s * nc_ + c;
        if (next_state[edge] == 0) {
          if (own.size() > kState) return false;
          next_state[edge] = static_cast<std::uint32_t>(own.size()) | kEdge;
          own.emplace_back();
          depth.push_back(depth[s] + 1);
          flags.push_back(ch == ' ' ? kAfterSpace : 0);
          next_state.resize(next_state.size() + nc_, 0);
        }
        s = next_state[edge] & kState;
        flags[s] |= anywhere;
      }
      own[s].push_back(e);
      flags[s] |= kEnds | (e.anywhere ? kEndsAnywhere : 0);
    }
    keys_.clear();
    keys_.shrink_to_fit();
    const auto states = static_cast<std::uint32_t>(own.size());

    // Word boundaries. Most keys need one in front (report() checks), so a key that ends where
    // a word went on in front of it is found only to be dropped, and every report stops the
    // walk (with many terms, most reports were such: "tion" in "station"). The walk's states
    // are therefore pairs (s, w): trie state s, and w, whether a word character is in front of
    // s's prefix. A pair reports only when s ends a key the boundary allows. Where w is set and
    // no `anywhere` key runs through s, nothing that s's prefix starts can be reported, so
    // (s, 1) is the pair its failure state stands for (mid_word[s]). The pairs are (s, 0),
    // numbered s, and (s, 1) for the root and the states `anywhere` keys run through, numbered
    // from `states` on (their s in pair_state).
    std::vector<std::uint32_t> mid_word(states, 0);
    std::vector<std::uint32_t> pair_state;
    for (std::uint32_t s = 0; s < states; ++s) {
      if (s == 0 || (flags[s] & kAnywhereBelow) != 0) {
        mid_word[s] = states + static_cast<std::uint32_t>(pair_state.size());
        pair_state.push_back(s);
      }
    }
    const std::size_t pairs = states + pair_state.size();
    // Rows up to 2^31 + pairs * nc_ must fit the table's 32 bits.
    if (pairs * nc_ >= kMaxTable) return false;

    // Failure links in breadth-first order complete the DFA; report[s] is the nearest state on
    // s's failure chain (s included) that ends a key, link[s] the next one after s.
    //
    // For w: kBefore on t, whether the character in front of fail[t]'s prefix, inside t's
    // prefix, is a word character; kWordThen on s's transition on c, when that is not a trie edge,
    // whether the one in front of its target's prefix, inside s's prefix and c, is. Such a
    // transition falls back to a suffix of s's prefix and c: fail[s]'s trie edge, which keeps
    // what is in front of fail[s], or a shorter one, with what fail[s]'s transition has in
    // front. kReportsOn on s: a state after s on its failure chain ends a key that what is in
    // front of it inside s's prefix allows. mid_word[t] is set when t is queued: its failure state,
    // shallower, was queued before it.
    const auto may_end = [&](std::uint32_t s, bool w) {
      return (flags[s] & kEnds) != 0 && ((flags[s] & kEndsAnywhere) != 0 || !w);
    };
    std::vector<std::uint32_t> fail(states, 0);
    std::vector<std::uint32_t> report(states, 0);
    link_.assign(states, 0);
    std::deque<std::uint32_t> queue{0};
    std::vector<std::uint32_t> bfs_order;
    bfs_order.reserve(states);
    while (!queue.empty()) {
      const std::uint32_t s = queue.front();
      queue.pop_front();
      bfs_order.push_back(s);
      if (s != 0) {
        link_[s] = report[fail[s]];
        report[s] = (flags[s] & kEnds) == 0 ? link_[s] : s;
        const std::uint32_t f = fail[s];
        if (may_end(f, (flags[s] & kBefore) != 0) || (flags[f] & kReportsOn) != 0) {
          flags[s] |= kReportsOn;
        }
      }
      for (std::uint32_t c = 0; c < nc_; ++c) {
        const std::uint32_t fallback = s == 0 ? 0 : next_state[fail[s] * nc_ + c];
        const bool in_word = s == 0                    ? word[c]
                             : (fallback & kEdge) != 0 ? (flags[s] & kBefore) != 0
                                                       : (fallback & kWordThen) != 0;
        std::uint32_t& t = next_state[s * nc_ + c];
        if ((t & kEdge) != 0) {
          const std::uint32_t child = t & kState;
          fail[child] = fallback & kState;
          flags[child] |= in_word ? kBefore : 0;
          if ((flags[child] & kAnywhereBelow) == 0) {
            mid_word[child] = in_word ? mid_word[fail[child]] : fail[child];
          }
          queue.push_back(child);
        } else {
          t = (fallback & kState) | (in_word ? kWordThen : 0);
        }
      }
    }
    // fold()'s text: keys are normalised (no upper case, no separator but single ' ', none at
    // either end), so upper case may share its lower case's class and every separator the
    // class of ' '; a ' ' read after one leaves the pair as it is (the root reads ' ' as
    // itself). On normalised text none of this changes a step.
    for (unsigned char ch = 'A'; ch <= 'Z'; ++ch) cls_[ch] = cls_[ch + ('a' - 'A')];
    for (const char ch : {'\t', '\n', '\v', '\f', '\r', '_', '-', '.', '/'}) {
      cls_[static_cast<unsigned char>(ch)] = cls_[' '];
    }
    space_ = cls_[' '];
    // Entries flattened (by trie state id).
    entry_begin_.assign(states + 1, 0);
    for (std::size_t s = 0; s < states; ++s) {
      entry_begin_[s + 1] = entry_begin_[s] + static_cast<std::uint32_t>(own[s].size());
      entries_.insert(entries_.end(), own[s].begin(), own[s].end());
    }
    // Renumber the pairs so that those that report come last: "reports" is then one test off
    // the scan's dependency chain (of all pieces' rows OR'd together, see bias_), and
    // transitions hold the target's row offset directly.
    // Breadth-first within each part: the shallow states, where prose spends its time, share
    // cache lines and pages (in trie order they lie all over a large table).
    const auto state_of = [&](std::uint32_t pair) {
      return pair < states ? pair : pair_state[pair - states];
    };
    const auto loud = [&](std::uint32_t pair) {
      const std::uint32_t s = state_of(pair);
      return may_end(s, pair >= states) || (flags[s] & kReportsOn) != 0;
    };
    std::vector<std::uint32_t> order;  // pairs, (s, 1) right after (s, 0)
    order.reserve(pairs);
    for (const std::uint32_t s : bfs_order) {
      order.push_back(s);
      if (s == 0 || (flags[s] & kAnywhereBelow) != 0) order.push_back(mid_word[s]);
    }
    std::uint32_t quiet = 0;
    for (const std::uint32_t pair : order) quiet += loud(pair) ? 0 : 1;
    // Rows are numbered from bias_ on, so that the first pair that reports has row 2^31: a
    // row reports when it has bit 31 set, and so does the OR of several rows (simd::walk).
    bias_ = static_cast<std::uint32_t>(simd::kLoudRow - std::size_t{quiet} * nc_);
    std::uint32_t next_quiet = 0;
    std::uint32_t next_loud = quiet;
    std::vector<std::uint32_t> renum(pairs);
    report_.assign(pairs, 0);
    depth_.assign(pairs, 0);
    for (const std::uint32_t pair : order) {
      renum[pair] = loud(pair) ? next_loud++ : next_quiet++;
      report_[renum[pair]] = report[state_of(pair)];
      depth_[renum[pair]] = depth[state_of(pair)];
    }
    // A trie edge keeps w, a fallback takes its kWordThen, a ' ' read after one keeps the pair.
    // In pair order: next_state is read front to back.
    delta_.assign(pairs * nc_, 0);
    for (std::uint32_t pair = 0; pair < pairs; ++pair) {
      const std::uint32_t s = state_of(pair);
      std::uint32_t* row = &delta_[std::size_t{renum[pair]} * nc_];
      for (std::uint32_t c = 0; c < nc_; ++c) {
        const std::uint32_t t = next_state[s * nc_ + c];
        const bool w = (t & kEdge) != 0 ? pair >= states : (t & kWordThen) != 0;
        const std::uint32_t to = (flags[s] & kAfterSpace) != 0 && c == space_ ? pair
                                 : w                                          ? mid_word[t & kState]
                                                                              : t & kState;
        row[c] = bias_ + renum[to] * nc_;
      }
    }
    // Each byte's column, indexed by row: bias_ entries before its place in delta_ (never read
    // there: rows start at bias_), so computed as an integer (the pointer lies outside).
    const auto table = reinterpret_cast<std::uintptr_t>(delta_.data());
    for (std::size_t b = 0; b < 256; ++b) {
      column_[b] = reinterpret_cast<const std::uint32_t*>(
          table + (std::uintptr_t{cls_[b]} - bias_) * sizeof(std::uint32_t));
    }
    return true;
  }

  bool empty() const { return entries_.empty(); }

  // Appends the ids of entries that occur in fold()'s `text` (on word boundaries unless
  // `anywhere`), in no particular order and possibly more than once.
  //
  // The walk is one dependent load per byte, so its speed is the load latency: the class's
  // column is found off that chain, and the load takes the row as its index. Long texts are
  // cut into kStreams pieces walked in one loop (simd::walk): the loads of different pieces
  // overlap, and the loop stops only when some piece reaches a state that reports. Each
  // piece starts at the root, which finds every key that starts inside it; a piece's walk then
  // runs on past its end until no key that started inside it can still be under way (the
  // state's depth is at most the bytes other than separators read past the end): those keys
  // are the next piece's.
  void scan(std::string_view text, std::vector<std::uint32_t>& hits) const {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    if (n < kMinSplit) {
      walk(text, bias_, 0, n, hits);
      return;
    }
    const std::size_t len = n / kStreams;
    std::array<std::size_t, kStreams> rows;
    rows.fill(bias_);
    std::array<simd::LoudStep, 16> loud;
    for (std::size_t j = 0; j < len;) {
      const simd::Walked walked = simd::walk(isa_, column_.data(), p + j, len - j, len, rows.data(),
                                             loud.data(), loud.size());
      for (std::size_t i = 0; i < walked.loud; ++i) {
        for (std::size_t k = 0; k < kStreams; ++k) {
          const std::size_t row = loud[i].rows[k];
          if (row >= simd::kLoudRow) report(text, k * len + j + loud[i].steps, state(row), hits);
        }
      }
      j += walked.steps;
    }
    // The last piece takes the remainder; the others finish the keys under way at their end.
    walk(text, rows[kStreams - 1], kStreams * len, n, hits);
    for (std::size_t k = 0; k + 1 < kStreams; ++k) {
      walk(text, rows[k], (k + 1) * len, n, hits, (k + 1) * len);
    }
  }

 private:
  // Texts shorter than this are walked in one piece.
  static constexpr std::size_t kStreams = simd::kWalkStreams;
  static constexpr std::size_t kMinSplit = 32 * kStreams;
  static constexpr std::size_t kNoSettle = static_cast<std::size_t>(-1);

  std::size_t state(std::size_t row) const { return (row - bias_) / nc_; }

  // Walks text[begin, end) on from `row`, reporting what ends on the way. With `settle`, it
  // stops earlier, once no key that began before `settle` can still be under way (the state's
  // depth is at most the bytes other than separators read past `settle`: each of those is one
  // byte of the normalised text, a run of separators at most one).
  void walk(std::string_view text, std::size_t row, std::size_t begin, std::size_t end,
            std::vector<std::uint32_t>& hits, std::size_t settle = kNoSettle) const {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::uint32_t* const* column = column_.data();
    std::size_t past = 0;  // bytes other than separators read from `settle` on
    for (std::size_t i = begin; i < end; ++i) {
      if (i >= settle) {
        if (depth_[state(row)] <= past) return;
        past += cls_[p[i]] != space_ ? 1 : 0;
      }
      row = column[p[i]][row];
      if (row >= simd::kLoudRow) [[unlikely]] {
        report(text, i + 1, state(row), hits);
      }
    }
  }

  // Where the key of `len` bytes that ends at `end` begins: in fold()'s text a run of
  // separators stands for one ' ' of the key.
  std::size_t key_start(std::string_view text, std::size_t end, std::uint32_t len) const {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    std::size_t i = end;
    for (std::uint32_t k = 0; k < len; ++k) {
      --i;
      if (cls_[p[i]] == space_) {
        while (i > 0 && cls_[p[i - 1]] == space_) --i;
      }
    }
    return i;
  }

  // Out of line so the scan loop keeps its state in registers.
  [[gnu::noinline]] void report(std::string_view text, std::size_t end, std::size_t state,
                                std::vector<std::uint32_t>& hits) const {
    for (std::uint32_t s = report_[state]; s != 0; s = link_[s]) {
      for (std::uint32_t k = entry_begin_[s]; k < entry_begin_[s + 1]; ++k) {
        const Entry& e = entries_[k];
        if (e.anywhere) {
          hits.push_back(e.id);
          continue;
        }
        const std::size_t start = key_start(text, end, e.len);
        if (start > 0 && word_before(text, start)) continue;
        if (!e.open_end && end < text.size() && word_at(text, end)) continue;
        hits.push_back(e.id);
      }
    }
  }

  static constexpr std::size_t kMaxTable = std::size_t{1} << 31;
  // compile()'s transitions: a state (at most kState, checked as the trie grows) and two flags.
  static constexpr std::uint32_t kEdge = std::uint32_t{1} << 31;
  static constexpr std::uint32_t kWordThen = std::uint32_t{1} << 30;
  static constexpr std::uint32_t kState = kWordThen - 1;
  // compile()'s facts per trie state.
  enum Flag : std::uint8_t {
    kAfterSpace = 1,     // its key prefix ends with ' '
    kAnywhereBelow = 2,  // an `anywhere` key runs through it
    kEnds = 4,           // it ends a key
    kEndsAnywhere = 8,   // it ends an `anywhere` key
    kBefore = 16,        // see compile()
    kReportsOn = 32,     // see compile()
  };

  std::vector<std::pair<std::string, Entry>> keys_;  // until compile()
  std::array<std::uint8_t, 256> cls_{};
  std::uint32_t nc_ = 1;
  std::uint32_t space_ = 0;           // the class of ' ' and every separator
  std::vector<std::uint32_t> delta_;  // [state * nc_ + class] -> target's row
  std::array<const std::uint32_t*, 256> column_{};  // per byte: its column, indexed by row
  simd::Isa isa_ = simd::best();
  std::uint32_t bias_ = 0;             // the root's row; a state's row is bias_ + state * nc_
  std::vector<std::uint32_t> report_;  // per (renumbered) state: a trie state that ends keys
  std::vector<std::uint32_t> depth_;   // per (renumbered) state: bytes of key prefix it stands for
  std::vector<std::uint32_t> link_;    // per trie state: the next one on its failure chain
  std::vector<std::uint32_t> entry_begin_;
  std::vector<Entry> entries_;
};

struct Label {
  Tier tier;
  std::string text;  // the term or pattern as configured
};

void sort_unique(std::vector<std::uint32_t>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

class ClassifierImpl final : public Classifier {
 public:
  explicit ClassifierImpl(Spec spec) : spec_(std::move(spec)) {}

  // Returns an error message, or "" when compiled.
  std::string compile() {
    const std::pair<Tier, const TierSpec*> tiers[] = {{Tier::red, &spec_.red},
                                                      {Tier::amber, &spec_.amber}};
    for (const auto& [tier, ts] : tiers) {
      for (std::size_t i = 0; i < ts->terms.size(); ++i) {
        if (std::string err = add_term(tier, ts->terms[i]); !err.empty()) {
          return where(tier, "terms", i) + err;
        }
      }
    }

    RE2::Options options;
    options.set_log_errors(false);
    options.set_never_nl(false);
    set_ = std::make_unique<RE2::Set>(options, RE2::UNANCHORED);
    for (const auto& [tier, ts] : tiers) {
      for (std::size_t i = 0; i < ts->patterns.size(); ++i) {
        const std::string& pattern = ts->patterns[i];
        if (pattern.empty()) return where(tier, "patterns", i) + "empty pattern";
        auto re = std::make_unique<RE2>(pattern, options);
        if (!re->ok()) return where(tier, "patterns", i) + re->error();
        std::string err;
        if (set_->Add(pattern, &err) < 0) return where(tier, "patterns", i) + err;
        pattern_ids_.push_back(static_cast<std::uint32_t>(labels_.size()));
        labels_.push_back({tier, pattern});
        regexes_.push_back(std::move(re));
      }
    }
    // A set that cannot compile (RE2's memory budget) falls back to one regex at a time.
    set_ok_ = !regexes_.empty() && set_->Compile();
    if (!regexes_.empty()) build_prefilter(options);
    if (!terms_.compile()) return "classifier.tiers: too many terms";
    return {};
  }

  Result classify(const std::vector<Segment>& segments) const override {
    return classify_segments(segments);
  }

  // Without copying the text into a Segment (`clawgate classify`, benchmarks).
  Result classify_text(std::string_view text) const override {
    struct View {
      std::string_view where;
      std::string_view text;
    };
    const View one[] = {{"input", text}};
    return classify_segments(one);
  }

  const Spec& spec() const override { return spec_; }

 private:
  // Segments are anything with `where` and `text` that convert to std::string_view.
  template <class Segments>
  Result classify_segments(const Segments& segments) const {
    Result result;
    if (terms_.empty() && regexes_.empty()) return result;
    std::vector<std::uint32_t> raw_hits;
    std::vector<std::uint32_t> decoded_hits;
    for (const auto& seg : segments) {
      const std::string_view text = seg.text;
      const std::string_view place = seg.where;
      raw_hits.clear();
      decoded_hits.clear();
      scan(text, raw_hits);
      for (const std::string& layer : decoded_layers(text)) scan(layer, decoded_hits);
      sort_unique(raw_hits);
      sort_unique(decoded_hits);
      for (const std::uint32_t id : raw_hits) {
        result.matches.push_back({labels_[id].tier, labels_[id].text, std::string(place)});
      }
      for (const std::uint32_t id : decoded_hits) {
        if (std::binary_search(raw_hits.begin(), raw_hits.end(), id)) continue;
        result.matches.push_back(
            {labels_[id].tier, labels_[id].text, std::string(place) + "+decoded"});
      }
    }
    auto& m = result.matches;
    std::sort(m.begin(), m.end(), [](const Match& a, const Match& b) {
      if (a.tier != b.tier) return a.tier > b.tier;
      if (a.where != b.where) return a.where < b.where;
      return a.term < b.term;
    });
    m.erase(std::unique(m.begin(), m.end()), m.end());
    if (!m.empty()) result.risk = m.front().tier;
    return result;
  }

  static std::string where(Tier tier, const char* list, std::size_t i) {
    return "classifier.tiers." + std::string(to_string(tier)) + "." + list + "[" +
           std::to_string(i) + "]: ";
  }

  std::string add_term(Tier tier, const std::string& term) {
    std::string_view stem = term;
    const bool open_end = !stem.empty() && stem.back() == '*';
    if (open_end) stem.remove_suffix(1);
    const std::string key = normalize(stem);
    if (key.empty()) return "empty term";
    const auto id = static_cast<std::uint32_t>(labels_.size());
    labels_.push_back({tier, term});
    terms_.add(key, {id, static_cast<std::uint32_t>(key.size()), open_end});
    if (key.find(' ') != std::string::npos) {
      std::string joined;
      for (const char c : key) {
        if (c != ' ') joined += c;
      }
      terms_.add(joined, {id, static_cast<std::uint32_t>(joined.size()), open_end});
    }
    return {};
  }

  // The pattern prefilter. RE2's FilteredRE2 lists, per pattern, literals ("atoms", in lower
  // case) such that any match's text, lower-cased, holds a combination of them. The atoms are
  // keys of the term automaton, so one walk over the normalised text finds terms and atoms;
  // the patterns run only when the atoms found allow a match.
  //
  // Finding atoms in the normalised text instead of the raw one is sound when the atom is
  // ASCII: normalising keeps every ASCII character up to case (which FilteredRE2 folds anyway),
  // dropped controls and separator runs (so an atom is looked for in the same shape: controls
  // dropped, separators collapsed, ends trimmed), and the non-ASCII case partners of ASCII
  // letters that (?i) matches (ſ, K Kelvin) become ASCII letters. The one exception, an ASCII
  // letter composed with a mark after it, is reported by normalize() and then the patterns run.
  // An atom that is not ASCII, or nothing once shaped, counts as always found. Not used at all
  // when some pattern has no atom (it could match anything): such a pattern costs a full RE2
  // pass on every text.
  void build_prefilter(const RE2::Options& options) {
    filter_ = std::make_unique<re2::FilteredRE2>(kMinAtomLen);
    for (const auto& re : regexes_) {
      int id = 0;
      if (filter_->Add(re->pattern(), options, &id) != RE2::NoError) return;
    }
    std::vector<std::string> atoms;
    filter_->Compile(&atoms);
    std::vector<int> unfiltered;
    filter_->AllPotentials({}, &unfiltered);
    if (atoms.empty() || !unfiltered.empty() || atoms.size() >= kAtom) return;
    for (std::size_t i = 0; i < atoms.size(); ++i) {
      const std::string key = atom_key(atoms[i]);
      if (key.empty()) {
        always_found_.push_back(static_cast<int>(i));
      } else {
        terms_.add(key, {kAtom | static_cast<std::uint32_t>(i),
                         static_cast<std::uint32_t>(key.size()), true, true});
      }
    }
    prefilter_ = true;
  }

  // An ASCII atom in the shape normalize() gives text; "" for one that must count as found.
  static std::string atom_key(std::string_view atom) {
    for (const char c : atom) {
      if (static_cast<unsigned char>(c) >= 0x80) return {};
    }
    bool ascii_kept = true;
    return normalize(atom, &ascii_kept);
  }

  // False when no pattern can match the text (per the atoms found in its normalised form).
  bool patterns_may_match(const std::vector<int>& atoms, bool ascii_kept) const {
    if (!prefilter_ || !ascii_kept) return true;
    std::vector<int> matched = atoms;
    matched.insert(matched.end(), always_found_.begin(), always_found_.end());
    if (matched.empty()) return false;
    std::sort(matched.begin(), matched.end());
    matched.erase(std::unique(matched.begin(), matched.end()), matched.end());
    std::vector<int> potential;
    filter_->AllPotentials(matched, &potential);
    return !potential.empty();
  }

  void scan(std::string_view text, std::vector<std::uint32_t>& hits) const {
    bool ascii_kept = true;
    std::vector<int> atoms;
    if (!terms_.empty()) {
      const std::size_t before = hits.size();
      // One buffer per thread: a text with non-ASCII is folded into it, and a new one would be
      // allocated and zero-filled each time (1-2% of the classifier benchmark). Kept up to
      // 256 KiB, so that I/O threads do not each hold the largest body they have seen.
      thread_local std::string buf;
      terms_.scan(fold(text, buf, ascii_kept), hits);
      if (buf.capacity() > kKeptFoldBuffer) std::string().swap(buf);
      // Atom hits are not matches: move them out.
      auto keep = hits.begin() + static_cast<std::ptrdiff_t>(before);
      for (auto it = keep; it != hits.end(); ++it) {
        if ((*it & kAtom) != 0) {
          atoms.push_back(static_cast<int>(*it & ~kAtom));
        } else {
          *keep++ = *it;
        }
      }
      hits.erase(keep, hits.end());
    }
    if (regexes_.empty() || !patterns_may_match(atoms, ascii_kept)) return;
    if (set_ok_) {
      std::vector<int> found;
      RE2::Set::ErrorInfo info{};
      if (set_->Match(text, &found, &info)) {
        for (const int k : found) hits.push_back(pattern_ids_[static_cast<std::size_t>(k)]);
        return;
      }
      if (info.kind == RE2::Set::kNoError) return;  // no match
    }
    for (std::size_t k = 0; k < regexes_.size(); ++k) {
      if (RE2::PartialMatch(text, *regexes_[k])) hits.push_back(pattern_ids_[k]);
    }
  }

  static constexpr int kMinAtomLen = 3;
  static constexpr std::size_t kKeptFoldBuffer = std::size_t{256} << 10;
  static constexpr std::uint32_t kAtom = 0x80000000u;  // term automaton ids: atom, not term

  Spec spec_;
  std::vector<Label> labels_;  // terms, then patterns; indexed by match id
  TermMatcher terms_;
  std::unique_ptr<RE2::Set> set_;
  bool set_ok_ = false;
  std::vector<std::unique_ptr<RE2>> regexes_;
  std::vector<std::uint32_t> pattern_ids_;
  std::unique_ptr<re2::FilteredRE2> filter_;
  std::vector<int> always_found_;  // atoms the automaton does not look for
  bool prefilter_ = false;
};

}  // namespace

std::variant<ClassifierPtr, std::string> Classifier::build(const Spec& spec) {
  auto impl = std::make_shared<ClassifierImpl>(spec);
  if (std::string err = impl->compile(); !err.empty()) return err;
  return ClassifierPtr(std::move(impl));
}

}  // namespace clawgate::classify
