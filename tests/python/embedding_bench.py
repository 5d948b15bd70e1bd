"""The Python side of the embedding benchmark: sentences per second that
sentence-transformers embeds on the CPU with all-MiniLM-L6-v2, one sentence at
a time (batch 1) and 32 at a time (batch 32), over the sentences of
tests/fixtures/embeddings/bench-sentences.json, which the host's side of the
benchmark uses too. torch keeps its default thread count, as a user's install
would. Prints one JSON line.

Usage: embedding_bench.py MODEL_DIR [--seconds N]   (default 10 per batch size)
Run with .zerodb/reference-venv's python (see scripts/embedding-reference).
"""

import argparse
import json
import pathlib
import time

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

SENTENCES = pathlib.Path(__file__).resolve().parents[1] / "fixtures/embeddings/bench-sentences.json"


def sentences_per_s(model, batches, seconds):
    """Encodes the batches round and round for at least `seconds`."""
    done = 0
    start = time.perf_counter()
    while True:
        for batch in batches:
            model.encode(batch, batch_size=len(batch), normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=False)
            done += len(batch)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    sentences = json.loads(SENTENCES.read_text())
    model = SentenceTransformer(args.model_dir, device="cpu")
    ones = [[s] for s in sentences]
    thirty_twos = [sentences[i:i + 32] for i in range(0, len(sentences), 32)]
    # Warm-up: first calls pay for lazy initialisation and cold caches.
    for batches in (ones, thirty_twos):
        for batch in batches:
            model.encode(batch, batch_size=len(batch), show_progress_bar=False)

    result = {
        "engine": f"sentence-transformers {sentence_transformers.__version__} torch {torch.__version__}",
        "batch_1_sentences_per_s": round(sentences_per_s(model, ones, args.seconds), 1),
        "batch_32_sentences_per_s": round(sentences_per_s(model, thirty_twos, args.seconds), 1),
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
