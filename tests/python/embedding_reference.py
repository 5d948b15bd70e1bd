"""Writes tests/fixtures/embeddings/all-MiniLM-L6-v2.json: the embeddings that
sentence-transformers itself gives for a fixed set of texts, which the host's
native (candle) implementation of all-MiniLM-L6-v2 is checked against.

Usage: embedding_reference.py MODEL_DIR   (run by scripts/embedding-reference)

The texts aim at the places where a reimplementation can drift from the
reference: tokenisation (case, accents, NFD input, control characters, CJK,
unknown characters, words too long for WordPiece), truncation at the model's
maximum sequence length, and mean pooling over inputs of very different
lengths. Each text is encoded on its own (batch of one), so that padding plays
no part in the reference values.
"""

import itertools
import json
import pathlib
import sys

import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer

OUT = pathlib.Path(__file__).resolve().parents[1] / "fixtures/embeddings/all-MiniLM-L6-v2.json"

# Texts the host must refuse rather than embed: nothing but whitespace.
REFUSED = ["", "   ", "\n\t "]

SHORT_AND_ORDINARY = [
    "hi",
    "a",
    "?",
    "42",
    "The cat sat quietly on the warm windowsill all afternoon.",
    "Quarterly revenue grew faster than analysts had expected.",
    "Vector databases index embeddings so that similar items can be found quickly.",
    "How do I reset my password if I no longer have access to my email?",
    # Mixed case: the tokenizer lowercases, so these two must agree.
    "The QUICK Brown fox JUMPS over the LaZy DoG",
    "the quick brown fox jumps over the lazy dog",
    "Invoice #A-1029: total $1,234.56 (incl. 7.5% VAT), due 2026-03-15 at 09:30.",
    "See https://example.com/docs/v1/search?q=vector+index&limit=10#results or mail jane.doe+news@example.org",
    'fn main() { let v: Vec<f32> = vec![0.1, 0.2]; println!("{:?}", v); }',
    "SELECT id, name FROM users WHERE created_at >= '2024-01-01' ORDER BY id DESC LIMIT 5;",
    "very very very very very very very very very very very good",
    "  \t leading and trailing whitespace\n\n  ",
    "multiple    spaces\tand\ttabs\nand\r\nnewlines inside",
]

NON_ASCII = [
    "Le café où nous nous sommes rencontrés était fermé à Noël.",
    "Die Straße über den Fluss ist im Winter für Lastwagen gesperrt.",
    # NFC and NFD spellings of the same words: accents are stripped after NFD.
    "crème brûlée, naïve café",
    "cre\u0300me bru\u0302le\u0301e, nai\u0308ve cafe\u0301",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "我们明天早上八点在火车站见面吧。",
    "東京の天気は今日とても良いです。",
    "오늘 날씨가 정말 좋네요.",
    "اللغة العربيّة جميلةٌ جدًّا",
    "Great job team! 🎉🚀 See you at 9:30 👍🏽",
    # A zero-width space and a soft hyphen (format characters) inside words.
    "zero\u200bwidth space and soft\u00adhyphen",
    # One "word" longer than WordPiece's 100-character limit: a single [UNK].
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3 + " is a long word",
]

PROSE = [
    "Morning fog rolled over the harbour while the fishing boats prepared to leave.",
    "The committee postponed its decision until the auditors had finished their report.",
    "Children in the village learned to swim in the cold river every summer.",
    "A well designed index turns a slow scan of millions of rows into a quick lookup.",
    "She packed two notebooks, a camera and a thermos of strong black coffee.",
    "Engineers replaced the old bridge after inspectors found cracks in its supports.",
    "The orchestra rehearsed the final movement until the timing was perfect.",
    "Rain is expected across the northern regions for most of the coming week.",
    "Our support team answers most questions within a few hours on business days.",
    "The library extended its opening hours during the examination period.",
]


def words_paragraph(n_words):
    """A paragraph of exactly n_words words, cycling through PROSE."""
    words = list(itertools.islice(itertools.cycle(" ".join(PROSE).split()), n_words))
    return " ".join(words)


def log_lines(n_chars):
    """A log excerpt (numbers, punctuation, paths) cut to exactly n_chars."""
    lines = []
    for i in itertools.count():
        lines.append(
            f"2026-03-{i % 28 + 1:02d}T12:{i % 60:02d}:07Z INFO request_id={1000 + 37 * i} "
            f"path=/v1/namespaces/ns-{i % 7}/query top_k={i % 10 + 1} took={(i * 13) % 250}.{i % 10}ms;"
        )
        text = " ".join(lines)
        if len(text) >= n_chars:
            return text[:n_chars]


def at_limit(tokenizer, n_pieces):
    """Ordinary words making exactly n_pieces word pieces."""
    filler = itertools.cycle("the cat sat on a mat and the dog ran in the park".split())
    words = []
    while pieces(tokenizer, " ".join(words)) < n_pieces:
        words.append(next(filler))
    text = " ".join(words)
    assert pieces(tokenizer, text) == n_pieces, "filler words must be one piece each"
    return text


def pieces(tokenizer, text):
    return len(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])


def main():
    model_dir = sys.argv[1]
    # pieces() counts long texts untruncated on purpose; transformers' warning
    # that such a sequence would overflow the model is noise here.
    transformers.logging.set_verbosity_error()
    model = SentenceTransformer(model_dir, device="cpu")
    tokenizer = model.tokenizer
    limit = model.max_seq_length
    # [CLS] and [SEP] take two of the max_seq_length positions.
    room = limit - 2

    long_texts = [
        words_paragraph(600),
        log_lines(3000),
        "向量数据库把文本变成数字，然后按照相似程度查找最接近的结果。" * 15,
        at_limit(tokenizer, room),  # fills the sequence exactly
        at_limit(tokenizer, room + 1),  # one piece too many: truncated
    ]
    texts = SHORT_AND_ORDINARY + NON_ASCII + long_texts

    cases = []
    for text in texts:
        [embedding] = model.encode(
            [text], batch_size=1, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        assert embedding.shape == (384,), embedding.shape
        # 7 significant digits: float32 carries about 7, and the file stays small.
        cases.append({"text": text, "embedding": [float(f"{x:.7g}") for x in embedding.tolist()]})
        print(f"{pieces(tokenizer, text):5d} pieces  {text[:60]!r}", file=sys.stderr)

    header = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "generator": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
        "max_seq_length": limit,
        "normalize": True,
    }
    # One case a line, so that a regenerated file diffs case by case. ASCII
    # escapes keep NFD text, zero-width characters and the like visible.
    body = ",\n".join("    " + json.dumps(case) for case in cases)
    head = json.dumps(header, indent=2)[:-2]
    out = f'{head},\n  "cases": [\n{body}\n  ],\n  "refused": {json.dumps(REFUSED)}\n}}\n'
    assert json.loads(out)["cases"] == cases
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(out)
    print(f"wrote {len(cases)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
