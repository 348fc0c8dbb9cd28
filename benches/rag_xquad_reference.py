"""Python reference numbers for the XQuAD retrieval benchmark.

Documents are the 240 paragraphs of XQuAD (English, SQuAD v1.1 layout), in
file order, with id = index in that order; each of the 1190 questions has its
own paragraph as the single gold document. Two retrievers are scored:

  * minilm-exact    - sentence-transformers all-MiniLM-L6-v2, normalized
                      embeddings, exact dot-product search with numpy
  * rank_bm25-okapi - rank_bm25.BM25Okapi over re.findall(r"\\w+", lower())

Both report recall@1, recall@5 and MRR@10 (ties broken by lower id) and
search throughput in queries/s (ranking only; question embedding is timed
separately in the "embed:" line).

Usage:
    /tmp/stvenv/bin/python benches/rag_xquad_reference.py XQUAD_JSON MODEL_DIR THREADS
Needs sentence-transformers, torch and rank_bm25 (pip install rank_bm25).
"""
import json
import re
import sys
import time

import numpy as np
import torch
from rank_bm25 import BM25Okapi
from sentence_transformers import SentenceTransformer


def load(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    docs, questions, gold = [], [], []
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                questions.append(qa["question"])
                gold.append(len(docs))
            docs.append(para["context"])
    return docs, questions, np.array(gold)


def evaluate(score_fn, n_queries, gold):
    """score_fn(i) -> scores over all docs; returns (R@1, R@5, MRR@10, q/s)."""
    ranks = np.empty(n_queries, dtype=np.int64)
    t0 = time.perf_counter()
    for i in range(n_queries):
        order = np.argsort(-score_fn(i), kind="stable")  # desc, ties: lower id
        ranks[i] = int(np.nonzero(order == gold[i])[0][0]) + 1
    qps = n_queries / (time.perf_counter() - t0)
    mrr = np.where(ranks <= 10, 1.0 / ranks, 0.0).mean()
    return (ranks <= 1).mean(), (ranks <= 5).mean(), mrr, qps


def timed_encode(model, texts):
    t0 = time.perf_counter()
    emb = model.encode(texts, batch_size=32, normalize_embeddings=True,
                       convert_to_numpy=True, show_progress_bar=False)
    return emb.astype(np.float32), time.perf_counter() - t0


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    xquad, model_dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    docs, questions, gold = load(xquad)

    model = SentenceTransformer(model_dir, device="cpu")
    model.encode(docs[:32], batch_size=32, normalize_embeddings=True)  # warm-up
    p_emb, p_s = timed_encode(model, docs)
    q_emb, q_s = timed_encode(model, questions)
    print(f"sentence-transformers embed: passages {len(docs)} in {p_s:.2f} s = "
          f"{len(docs) / p_s:.1f}/s; questions {len(questions)} in {q_s:.2f} s = "
          f"{len(questions) / q_s:.1f}/s")

    tok = lambda text: re.findall(r"\w+", text.lower())
    bm25 = BM25Okapi([tok(d) for d in docs])
    q_toks = [tok(q) for q in questions]

    results = [
        ("minilm-exact", evaluate(lambda i: p_emb @ q_emb[i], len(questions), gold)),
        ("rank_bm25-okapi",
         evaluate(lambda i: bm25.get_scores(q_toks[i]), len(questions), gold)),
    ]
    for name, (r1, r5, mrr, qps) in results:
        print(f"python  {name:<16s} R@1 {r1:.3f}  R@5 {r5:.3f}  MRR@10 {mrr:.3f}  "
              f"{qps:.0f} q/s")


if __name__ == "__main__":
    main()
