#!/usr/bin/env python3
"""Writes a C++ source defining `std::string_view NAME` with the bytes of a text file, so
the binary carries a built-in copy of a shipped file (e.g. classification.toml)."""
import sys

src, out, namespace, name = sys.argv[1:5]
data = open(src, 'rb').read()
body = ''.join('\\x%02x' % b for b in data)
with open(out, 'w') as f:
    f.write('// Generated from %s by config/embed_text.py; do not edit.\n' % src.split('/')[-1])
    f.write('#include <string_view>\n\nnamespace %s {\n' % namespace)
    f.write('extern const std::string_view %s;\n' % name)
    f.write('const std::string_view %s("%s", %d);\n}\n' % (name, body, len(data)))
