"""Regenerate src/zoomhard/resources/imagenet_wordnet_hierarchy.json from WordNet 3.0.

    python scripts/build_wordnet_hierarchy.py [/usr/share/wordnet/data.noun]

WordNet's noun database (Debian: apt-get install wordnet-base) has one synset per line:
    offset lex_filenum ss_type w_cnt(hex) word lex_id ... p_cnt ptr_symbol offset pos src/tgt ... | gloss
An ImageNet wnid is 'n' + the 8-digit offset. Hypernym pointers ('@', and '@i' for instances)
link a synset to its parents. The output keeps every synset on a path from the 1,000 ImageNet
classes to the root 'entity', with its parents and first lemma.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "src" / "zoomhard" / "resources"


def parse_data_noun(path: Path) -> dict[str, tuple[str, list[str]]]:
    """wnid -> (first lemma, hypernym wnids)."""
    synsets = {}
    with open(path, encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):  # the licence header
                continue
            fields = line.split(" | ")[0].split()
            offset, w_cnt = fields[0], int(fields[3], 16)
            lemma = fields[4].replace("_", " ")
            i = 4 + 2 * w_cnt
            p_cnt = int(fields[i])
            parents = []
            for k in range(p_cnt):
                symbol, target, pos = fields[i + 1 + 4 * k: i + 4 + 4 * k]
                if symbol in ("@", "@i") and pos == "n":
                    parents.append("n" + target)
            synsets["n" + offset] = (lemma, parents)
    return synsets


def build(data_noun: Path) -> dict:
    synsets = parse_data_noun(data_noun)
    classes = json.loads((RESOURCES / "imagenet1k_wnids.json").read_text())["wnids"]
    missing = [w for w in classes if w not in synsets]
    if missing:
        raise SystemExit(f"{data_noun} lacks {len(missing)} ImageNet wnids (e.g. {missing[:3]}): not WordNet 3.0?")
    keep, todo = {}, list(classes)
    while todo:
        w = todo.pop()
        if w in keep:
            continue
        lemma, parents = synsets[w]
        keep[w] = {"name": lemma, "parents": parents}
        todo.extend(parents)
    return {"source": "WordNet 3.0 data.noun, hypernym (@) and instance hypernym (@i) pointers",
            "synsets": dict(sorted(keep.items()))}


def main() -> None:
    data_noun = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet/data.noun")
    if not data_noun.is_file():
        raise SystemExit(f"{data_noun}: not found (apt-get install wordnet-base)")
    out = RESOURCES / "imagenet_wordnet_hierarchy.json"
    tree = build(data_noun)
    out.write_text(json.dumps(tree, indent=0, sort_keys=False) + "\n")
    print(f"{out}: {len(tree['synsets'])} synsets")


if __name__ == "__main__":
    main()
