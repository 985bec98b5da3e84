#!/usr/bin/env python3
"""Unit tests of modcycles.py on tiny crate trees written to a temp dir.

Run: python3 .ci/test_modcycles.py
"""

import io
import os
import sys
import tempfile
import textwrap
import unittest
from contextlib import redirect_stderr, redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modcycles  # noqa: E402


class Tree:
    """A repository root with crates/<name>/src/<files>."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def crate(self, name, files):
        src = os.path.join(self.root, "crates", name, "src")
        for rel, text in files.items():
            path = os.path.join(src, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(textwrap.dedent(text))
        return src

    def run(self):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = modcycles.main(["modcycles.py", self.root])
        return code, out.getvalue().splitlines()

    def close(self):
        self.tmp.cleanup()


class ModCycles(unittest.TestCase):
    def setUp(self):
        self.tree = Tree()

    def tearDown(self):
        self.tree.close()

    def graph(self, files):
        return modcycles.crate_graph(self.tree.crate("c", files))

    def test_mod_declarations_alone_are_not_dependencies(self):
        g = self.graph({
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "pub fn f() {}\n",
            "b.rs": "pub fn g() {}\n",
        })
        self.assertEqual(g, {"lib.rs": set(), "a.rs": set(), "b.rs": set()})
        self.assertEqual(self.tree.run(), (0, []))

    def test_parent_child_cycle_through_pub_use_and_super(self):
        self.tree.crate("proxy", {
            "lib.rs": "mod rewrite;\npub use rewrite::write;\n",
            "rewrite.rs": "mod request;\npub use request::write;\npub struct Framing;\n",
            "rewrite/request.rs": "use super::Framing;\npub fn write(_: Framing) {}\n",
        })
        code, lines = self.tree.run()
        self.assertEqual(code, 1)
        self.assertEqual(lines, ["proxy: rewrite.rs -> rewrite/request.rs -> rewrite.rs"])

    def test_reexports_are_followed_to_the_defining_file(self):
        # `crate::Error` is error.rs's item, re-exported by lib.rs: no
        # lib.rs <-> runtime.rs cycle although lib.rs re-exports runtime.
        g = self.graph({
            "lib.rs": "mod error;\nmod runtime;\npub use error::Error;\npub use runtime::run;\n",
            "error.rs": "pub enum Error { A }\n",
            "runtime.rs": "use crate::Error;\npub fn run() -> Result<(), Error> { Ok(()) }\n",
        })
        self.assertEqual(g["runtime.rs"], {"error.rs"})
        self.assertEqual(g["lib.rs"], {"error.rs", "runtime.rs"})
        self.assertEqual(modcycles.cycles(g), [])

    def test_glob_reexport_is_followed(self):
        g = self.graph({
            "lib.rs": "mod model;\nmod check;\npub use model::*;\n",
            "model.rs": "pub struct Config;\n",
            "check.rs": "use crate::Config;\n",
        })
        self.assertEqual(g["check.rs"], {"model.rs"})

    def test_grouped_uses_and_paths_in_code(self):
        g = self.graph({
            "lib.rs": "mod conn;\nmod shard;\nmod table;\n",
            "conn.rs": textwrap.dedent("""\
                pub mod park;
                mod io;
                use self::io::{read, write as w};
                pub struct Conn;
                pub fn serve() {
                    // comment mentions crate::shard::nothing
                    let s = "crate::table::nothing";
                    park::park(); read(); w();
                }
            """),
            "conn/io.rs": "pub fn read() {}\npub fn write() {}\n",
            "conn/park.rs": textwrap.dedent("""\
                use super::{Conn, io::{self}};
                pub fn park() { let _ = crate::table::Slot; }
                pub fn expire() {}
            """),
            "shard.rs": "pub fn tick() { crate::conn::park::expire(); }\n",
            "table.rs": "pub struct Slot;\n",
        })
        self.assertEqual(g["conn.rs"], {"conn/io.rs", "conn/park.rs"})
        self.assertEqual(g["conn/park.rs"], {"conn.rs", "conn/io.rs", "table.rs"})
        self.assertEqual(g["shard.rs"], {"conn/park.rs"})
        self.assertEqual(g["lib.rs"], set())
        self.assertEqual(modcycles.cycles(g), [["conn.rs", "conn/park.rs", "conn.rs"]])

    def test_test_module_super_glob_is_its_own_file(self):
        g = self.graph({
            "lib.rs": "mod a;\npub struct Limits;\n",
            "a.rs": textwrap.dedent("""\
                pub fn f() {}
                #[cfg(test)]
                mod tests {
                    use super::*;
                    #[test]
                    fn t() { f(); let _ = '{'; }
                }
            """),
        })
        self.assertEqual(g["a.rs"], set())

    def test_mod_rs_layout_and_three_file_cycle(self):
        self.tree.crate("k", {
            "lib.rs": "mod a;\nmod b;\nmod c;\n",
            "a/mod.rs": "mod inner;\npub fn a() { crate::b::b(); }\n",
            "a/inner.rs": "pub fn i() {}\n",
            "b.rs": "pub fn b() { crate::c::c(); }\n",
            "c.rs": "use crate::a::a;\npub fn c() { a(); }\n",
        })
        code, lines = self.tree.run()
        self.assertEqual(code, 1)
        self.assertEqual(lines, ["k: a/mod.rs -> b.rs -> c.rs -> a/mod.rs"])

    def test_other_crates_and_std_are_ignored(self):
        g = self.graph({
            "lib.rs": "mod a;\nmod metrics;\npub use shardgate_http::canonical_reason as reason;\n",
            "a.rs": "use std::io;\nuse crate::reason;\npub fn f() -> io::Result<()> { Ok(()) }\n",
            "metrics.rs": "use metrics::counter;\n",
        })
        self.assertEqual(g["a.rs"], set())
        self.assertEqual(g["metrics.rs"], set())

    def test_use_tree_parsing(self):
        self.assertEqual(
            modcycles.parse_use("super::{a, b::{self, C as D}, e::*}"),
            [
                (["super", "a"], "a", False),
                (["super", "b"], "b", False),
                (["super", "b", "C"], "D", False),
                (["super", "e"], None, True),
            ],
        )
        self.assertEqual(modcycles.parse_use("::std::io"), [(["std", "io"], "io", False)])


if __name__ == "__main__":
    unittest.main()
