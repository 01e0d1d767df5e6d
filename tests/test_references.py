"""
What the code and the docs cite exists (issues 24 and 28): the model's
rules are numbered in docs/explanation/model.md, every "rule N" in the
package, the tests and the docs is one of them, and no file names the
specification this project started from, which is not part of it.
"""

from __future__ import annotations

import os
import re

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "docs", "explanation", "model.md")
#: The outside file's name, built so that this file does not contain it.
OUTSIDE = "MODEL" + ".md"
#: "rule 7", "rules 6 and 13", "rules 9, 10 and 14", "rule 7's".
CITATION = re.compile(r"\brules? ((?:\d+)(?:(?:, | and | or |-)\d+)*)")


def sources() -> list[str]:
    """Every file of ours that may cite a rule."""
    found = [os.path.join(ROOT, "README.md")]
    for top, suffixes in (("twisted_lwstp", (".py", ".html")), ("tests", (".py",)),
                          ("docs", (".md", ".py")), ("twisted", (".py",))):
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if not d.startswith(("_build", "_trial_temp", "."))]
            found += [os.path.join(folder, f) for f in files if f.endswith(suffixes)]
    return found


def numbered_rules() -> set[int]:
    text = open(MODEL).read()
    section = text.split("## The rules", 1)[1].split("\n## ", 1)[0]
    return {int(n) for n in re.findall(r"^(\d+)\. \*\*", section, re.M)}


class ReferenceTests(SynchronousTestCase):
    def test_the_model_numbers_its_rules_from_one(self) -> None:
        rules = numbered_rules()
        self.assertEqual(rules, set(range(1, len(rules) + 1)))
        self.assertGreaterEqual(len(rules), 14)

    def test_no_file_cites_the_outside_specification(self) -> None:
        citing = [os.path.relpath(p, ROOT) for p in sources() if OUTSIDE in open(p).read()]
        self.assertEqual(citing, [])

    def test_every_cited_rule_exists(self) -> None:
        rules = numbered_rules()
        dangling = []
        for path in sources():
            for number, line in enumerate(open(path), 1):
                for match in CITATION.finditer(line):
                    for n in re.findall(r"\d+", match.group(1)):
                        if int(n) not in rules:
                            dangling.append(f"{os.path.relpath(path, ROOT)}:{number}: rule {n}")
        self.assertEqual(dangling, [])

    def test_the_checks_see_a_dangling_rule(self) -> None:
        self.assertEqual([m.group(1) for m in CITATION.finditer("rules 6 and 13, rule " + "99")],
                         ["6 and 13", "99"])
