#!/usr/bin/env python3
"""No host loop over tensor data outside engine/cpu/ (the CUDA backend's rule, docs/cuda.md).

Where ops, their backward passes, the optimizers, the trainer's step and the DeepSigns
regularizer and centre tracking do their numeric work (engine/ops/*.cpp, layers/optim.cpp,
models/trainer.cpp, watermark/deepsigns/wm_regularizer.cpp), a loop may
not touch tensor data on the host: that work belongs in a CPU kernel (engine/cpu/, called as
`cpu::...`) beside the device's kernel, so that the op runs wherever its inputs are. Reported:
  - a for/while loop whose text reads tensor data (.f32(), .i64(), .data<T>(), storage()->data())
    or indexes a pointer taken from it, unless the loop only calls CPU kernels (`cpu::`);
  - std::copy/fill/memcpy/transform/accumulate over such data.
Reading one value (a flag a kernel wrote, a label to quote in an error) is not a loop and is
allowed. Usage: scripts/check_host_loops.py [ROOT]; prints file:line for each finding and exits 1.
"""
import glob
import os
import re
import sys

SCOPE = ["engine/ops/*.cpp", "layers/optim.cpp", "models/trainer.cpp", "watermark/deepsigns/wm_regularizer.cpp"]
ACCESS = r"\.(?:f32|i64)\(\)|\.data<|storage\(\)->data\(\)"
STD_BULK = re.compile(r"std::(?:copy|copy_n|fill|fill_n|memcpy|memmove|memset|transform|accumulate)\b")
LOOP = re.compile(r"\b(?:for|while)\s*\(")


def blank_comments_and_strings(text):
    keep_lines = lambda m: re.sub(r"[^\n]", " ", m.group())
    text = re.sub(r"/\*.*?\*/", keep_lines, text, flags=re.S)
    text = re.sub(r"//[^\n]*", keep_lines, text)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', lambda m: '"' + " " * (len(m.group()) - 2) + '"', text)


def matching(text, i, open_ch, close_ch):
    """Index just past the bracket that closes the one at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == open_ch:
            depth += 1
        elif text[j] == close_ch:
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


def loop_extent(text, start):
    """(start, end) of the loop whose keyword starts at `start`: header and body."""
    header_end = matching(text, text.index("(", start), "(", ")")
    k = header_end
    while k < len(text) and text[k].isspace():
        k += 1
    if k < len(text) and text[k] == "{":
        return start, matching(text, k, "{", "}")
    if LOOP.match(text, k):  # a loop whose body is another loop
        return start, loop_extent(text, k)[1]
    return start, text.index(";", k) + 1


def findings(path, rel):
    text = blank_comments_and_strings(open(path).read())
    data_vars = set(re.findall(r"\*\s*(\w+)\s*=[^;,]*?(?:" + ACCESS + ")", text))
    touches = re.compile(ACCESS + (r"|\b(?:" + "|".join(sorted(data_vars)) + r")\s*\[" if data_vars else ""))
    out, covered = [], 0
    for m in LOOP.finditer(text):
        if m.start() < covered:
            continue  # inside a loop already looked at
        start, end = loop_extent(text, m.start())
        body = text[start:end]
        if touches.search(body) and "cpu::" not in body:
            out.append((text.count("\n", 0, start) + 1, " ".join(body.split())[:110]))
            covered = end
    for m in STD_BULK.finditer(text):
        stmt_end = text.index(";", m.start())
        stmt = text[m.start():stmt_end]
        if touches.search(stmt):
            out.append((text.count("\n", 0, m.start()) + 1, " ".join(stmt.split())[:110]))
    return [f"{rel}:{line}: {what}" for line, what in sorted(out)]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    found = []
    for pattern in SCOPE:
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            found += findings(path, os.path.relpath(path, root))
    for f in found:
        print(f)
    if found:
        print(f"{len(found)} host loop(s) over tensor data outside engine/cpu/: move each into a cpu:: kernel in "
              "engine/cpu/ (and give the op its device path)", file=sys.stderr)
        return 1
    print("no host loops over tensor data outside engine/cpu/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
