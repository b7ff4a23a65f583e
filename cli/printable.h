// Text from files (tensor names, metadata, paths) made safe to print on a terminal: a crafted
// file must not move the cursor, retitle the window or hide lines with escape sequences.
#pragma once
#include <string>

namespace signet::cli {

// `s` with C0 control bytes (including ESC, CR, LF, TAB), DEL and UTF-8 encoded C1 controls
// (U+0080..U+009F, e.g. CSI) written as \xHH escapes; backslash becomes \\ so that an escape in
// the output always means one in the data. Other bytes pass through unchanged.
std::string printable(const std::string& s);

}  // namespace signet::cli
