#!/usr/bin/env python3
"""Writes tests/core/data/pytext.txt: Python's own answers for the string rules that
core/text.c reimplements, over every code point, and repr() of many doubles.
Run: python3 tests/core/gen_pytext.py > tests/core/data/pytext.txt

Lines (hex code points; ranges inclusive):
  V <python version> <unicodedata version>
  L <cp> <lower cp> [<lower cp> ...]   str.lower() of chr(cp), only where it differs
  S <first> <last>                     str.isspace() ranges
  C <first> <last>                     cased and not case-ignorable: (c + 'Σ').lower()
                                       ends in final sigma
  I <first> <last>                     case-ignorable: ('A' + c + 'Σ').lower() ends in
                                       final sigma while c alone does not make it final
  N <first> <last>                     unassigned in this Python's Unicode (category Cn):
                                       utf8proc may know them from a later Unicode
  U <hex bytes> <code points>          bytes.decode("utf-8", "surrogateescape")
  R <hex of the double's 8 bytes> <repr>
"""
import random
import struct
import sys
import unicodedata


def ranges(pred):
    out, start = [], None
    for c in range(0x110000 + 1):
        on = c < 0x110000 and not (0xD800 <= c <= 0xDFFF) and pred(c)
        if on and start is None:
            start = c
        elif not on and start is not None:
            out.append((start, c - 1))
            start = None
    return out


def main():
    w = sys.stdout.write
    w("V %s %s\n" % (sys.version.split()[0], unicodedata.unidata_version))
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        low = chr(c).lower()
        if low != chr(c):
            w("L %x %s\n" % (c, " ".join("%x" % ord(x) for x in low)))
    for a, b in ranges(lambda c: chr(c).isspace()):
        w("S %x %x\n" % (a, b))
    t1 = lambda c: (chr(c) + "\u03a3").lower()[-1] == "\u03c2"
    t2 = lambda c: ("A" + chr(c) + "\u03a3").lower()[-1] == "\u03c2"
    for a, b in ranges(lambda c: unicodedata.category(chr(c)) == "Cn"):
        w("N %x %x\n" % (a, b))
    for a, b in ranges(t1):
        w("C %x %x\n" % (a, b))
    for a, b in ranges(lambda c: t2(c) and not t1(c)):
        w("I %x %x\n" % (a, b))
    rnd = random.Random(18)
    pieces = [b"a", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\x80", b"\xbf",
              b"\xc0\xaf", b"\xc1", b"\xc2", b"\xe0\x80", b"\xe0\xa0", b"\xed\xa0\x80",
              b"\xed\x9f\xbf", b"\xf4\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xf5", b"\xff",
              b"\xf0\x9f", b"\xf0", b"\xe2"]
    for _ in range(400):
        b = b"".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 6)))
        cps = b.decode("utf-8", "surrogateescape")
        w("U %s %s\n" % (b.hex(), " ".join("%x" % ord(x) for x in cps)))
    vals = [0.0, -0.0, 1.0, 75.0, 100.0, 91.66666666666667, 91.666666666666657, 1 / 3, 2 / 3,
            0.1, 0.2, 0.3, 1e-4, 1e-5, 9.999999999999999e-05, 1e15, 1e16, 1e17, 123456789012345.6,
            1234567890123456.7, 9999999999999998.0, 1e22, 1e23, 5e-324, 2.2250738585072014e-308,
            1.7976931348623157e308, 0.5, 1.5, 2.5, 86.20624408703878, 0.001, 12345.678,
            -2.5, -1e-7, 3.14159, 2.0 ** 53, 2.0 ** 53 + 2, 4.35, 0.1 + 0.2]
    for e in range(-323, 309):
        vals += [float("1e%d" % e), float("1.5e%d" % e), float("-7.25e%d" % e)]
    for _ in range(1500):
        kind = rnd.randrange(4)
        if kind == 0:
            vals.append(struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0])
        elif kind == 1:
            vals.append(rnd.random() * 10 ** rnd.randrange(-8, 20))
        elif kind == 2:
            vals.append(round(rnd.random() * 100, rnd.randrange(0, 6)))
        else:
            vals.append(100.0 * rnd.randrange(1, 10571) / 10570)  # dev-set scores
    for v in vals:
        if v != v or v in (float("inf"), float("-inf")):
            continue
        w("R %s %s\n" % (struct.pack(">d", v).hex(), repr(v)))


if __name__ == "__main__":
    main()
