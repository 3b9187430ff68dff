#pragma once
// fold(): the bytes the term automaton walks, without a normalised copy of ASCII text.

#include <string>
#include <string_view>

namespace clawgate::classify {

// `raw` with every stretch that normalize() does not take as plain ASCII (non-ASCII, dropped
// controls, and the byte before them) replaced by what normalize() emits for it there: `raw`
// itself when there is none, else the start of `buf` (which keeps its size, at least the
// result's, so that a buffer used again is not zero-filled again). Read with ASCII upper case as
// lower case and each run of white space, '_', '-', '.', '/' and ' ' as one space (leading and
// trailing ones dropped), the result is normalize(raw). `ascii_kept` becomes false as normalize()
// would report it.
std::string_view fold(std::string_view raw, std::string& buf, bool& ascii_kept);

}  // namespace clawgate::classify
