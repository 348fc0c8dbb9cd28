#!/usr/bin/env python3
"""Writes minilm_wordpiece.json: texts and the ids Hugging Face's `tokenizers` gives them with
all-MiniLM-L6-v2's tokenizer.json, the reference for claude-tokenizer's WordPiece.

    pip install tokenizers
    python3 crates/tokenizer/tests/data/wordpiece_reference.py [MODEL_DIR] [--chars-table TSV]

MODEL_DIR defaults to shared/data/models/all-minilm-l6-v2 beside the repository. `ids` are
with [CLS]/[SEP] and without truncation or padding; `ids_max256` are what sentence-transformers
feeds the model (truncated to its max_seq_length of 256).

`char_blocks` covers every code point: for each, the record
`<hex code point>\t<hex code points of the normalizer's output, space-separated>\t<class>\n`,
where class is what the pre-tokenizer makes of `a<char>b`: `-` one word, `w` whitespace (two
words), `p` punctuation (three). The records of each block of 4096 code points (surrogates left
out) are hashed with SHA-256, the first 16 hex digits kept. `--chars-table TSV` also writes all
the records, to compare with the ones a failing test writes.
"""

import hashlib
import json
import pathlib
import sys

import tokenizers
from tokenizers import Tokenizer

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_MODEL = HERE.parents[3].parent / "shared/data/models/all-minilm-l6-v2"

LONG_PARAGRAPH = (
    "Sentence embeddings map a whole sentence to one vector, so that sentences with similar "
    "meanings end up close together. The model reads at most 256 word pieces; anything after "
    "that is cut off before the encoder sees it, which is why callers must be told. "
)

CASES = [
    ("empty", ""),
    ("hello", "Hello, world!"),
    ("pangram", "The quick brown fox jumps over the lazy dog."),
    ("accents", "Café naïve résumé"),
    ("chinese", "我爱北京天安门"),
    ("japanese", "東京は日本の首都です。ひらがなとカタカナ、ｶﾀｶﾅ。"),
    ("korean", "안녕하세요 세계"),
    ("emoji", "I love 🤗 and 🍕! 👍🏽 🥲 👨‍👩‍👧"),
    ("odd_whitespace", "a\t\tb\u00a0c\n"),
    ("unicode_whitespace", "a\u2003b\u3000c\u2028d\u202fe\r\nf\u000bg\u000ch\u0085i"),
    ("only_whitespace", "   \t\n  \u00a0"),
    ("control_chars", "x\u0000y\u0007z\u001b[31mred\u007fdel\ufffdend\u200bzw\u00adsoft"),
    ("private_use_unassigned", "a\ue000b \u0378c"),
    ("punctuation_runs", "Wait...what?!?! (yes) -- [no] {maybe} <ok> \"q\" 'single' ~`^|\\/"),
    ("only_punctuation", "!!!???...,,,;;;"),
    ("word_150_chars", "pneumonoultramicroscopicsilicovolcanoconiosis" * 3 + "abcdefghijklmno"),
    ("word_100_chars", "a" * 100),
    ("word_101_chars", "a" * 101),
    ("word_100_chars_accented", "é" * 100 + " " + "é" * 101),
    ("numbers", "3.14159 1,000,000 2024-01-01 0x1F 42nd 1st ١٢٣ ½ ² ⅷ"),
    ("mixed_case", "ThE MiXeD CaSe iPhone McDonald's NASA eBay"),
    ("special_tokens_in_text", "Paris is the [MASK] of France.[SEP] x[CLS]y [mask] [UNK][PAD]"),
    ("greek_cyrillic", "Ελληνικά ΣΟΦΙΑ ὀδυσσεύς Москва Ёжик"),
    ("arabic_hebrew_hindi", "مرحبا بالعالم שָׁלוֹם नमस्ते दुनिया"),
    ("vietnamese", "Tiếng Việt có dấu"),
    ("case_mapping", "Straße İstanbul ǅ ﬁ ＡＢＣ ẞ ΣΑΣ"),
    ("combining_marks", "e\u0301 \u0301alone a\u0308o\u0323\u0302 n\u0303"),
    ("symbols", "€100 £5 ©®™ µ Å Ω ∑x² ≤ ∞ → α+β=γ"),
    (
        "cjk_ranges",
        "𠀀𪚥 x\U0002b820y x\U0002b920y \uf900\u2f00 x\u3400y x\u9fffy x\u4e00y x\uac00y",
    ),
    ("url_email", "https://example.com/path?q=1&r=2 user@mail.org"),
    ("code", 'fn main() { println!("{}", x[0]); }'),
    ("thai", "ภาษาไทยง่ายนิดเดียว"),
    ("quotes_dashes", "don't won't it’s “smart quotes” — em-dash – en-dash"),
    ("hashes", "##hash #tag ## a##b"),
    ("subwords", "unbelievably antidisestablishmentarianism tokenization embeddings"),
    ("mixed_scripts", "hello世界world Ελλάδα123abc"),
    ("multi_line", "First line.\n\nSecond paragraph,\twith a tab.\r\nThird."),
    ("long_text", LONG_PARAGRAPH * 8),
]


BLOCK = 4096
PIECES_TO_CLASS = {1: "-", 2: "w", 3: "p"}


def char_records(tokenizer):
    """Yields (code point, record) for every code point but the surrogates."""
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        normalized = " ".join("%x" % ord(x) for x in normalizer.normalize_str(c))
        pieces = len(pre_tokenizer.pre_tokenize_str("a" + c + "b"))
        yield cp, "%x\t%s\t%s\n" % (cp, normalized, PIECES_TO_CLASS.get(pieces, "?"))


def char_blocks(tokenizer, table_path):
    """The per-block hashes of the code point records (and the records, to table_path)."""
    hashes = [hashlib.sha256() for _ in range(0x110000 // BLOCK)]
    table = open(table_path, "w", encoding="ascii") if table_path else None
    for cp, record in char_records(tokenizer):
        hashes[cp // BLOCK].update(record.encode("ascii"))
        if table:
            table.write(record)
    if table:
        table.close()
    return [h.hexdigest()[:16] for h in hashes]


def main() -> None:
    args = sys.argv[1:]
    table_path = None
    if "--chars-table" in args:
        i = args.index("--chars-table")
        table_path = args[i + 1]
        del args[i : i + 2]
    model_dir = pathlib.Path(args[0]) if args else DEFAULT_MODEL
    full = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    full.no_truncation()
    full.no_padding()
    limited = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    limited.enable_truncation(256)
    limited.no_padding()
    cases = []
    for name, text in CASES:
        encoding = full.encode(text)
        cases.append(
            {
                "name": name,
                "text": text,
                "ids": encoding.ids,
                "tokens": encoding.tokens,
                "ids_max256": limited.encode(text).ids,
            }
        )
    assert any(len(c["ids"]) > 256 for c in cases), "no case is longer than 256 tokens"
    out = {
        "source": "tokenizers %s, all-minilm-l6-v2/tokenizer.json, encode(text) with "
        "[CLS]/[SEP], no truncation (ids) and truncation to 256 (ids_max256)" % tokenizers.__version__,
        "cases": cases,
        "char_blocks": {"block": BLOCK, "sha256_16": char_blocks(full, table_path)},
    }
    path = HERE / "minilm_wordpiece.json"
    path.write_text(json.dumps(out, ensure_ascii=True, indent=1) + "\n", encoding="ascii")
    print("%s: %d cases" % (path, len(cases)))


if __name__ == "__main__":
    main()
