"""`python -m benchmarks.train_reader`: train the answer reader and write its weights into rag/answer/reader/.

The reader is the packaged all-MiniLM-L6-v2 fine-tuned as a cross-encoder: "question [SEP] sentence" in, one
score out (does this sentence answer the question?). Its network is the embedder's own graph (token embeddings,
six encoder layers, mean pooling, L2 normalisation) followed by one linear unit, so it runs on the same ONNX
Runtime path with no torch at run time. The embeddings and the lower layers stay frozen and are read from the
packaged model at run time; only the upper layers and the head are trained and shipped (fp16, with a sha256).

Training pairs come from SQuAD 2.0's `train.jsonl` (CC BY-SA 4.0; see /work/shared/eval/README.md): for an
answerable question its gold sentence is a positive and the article's sentences sharing most words with the
question are negatives; for an unanswerable one those sentences are all negatives. The head reads the embedder's
unit vector, so its weights must grow well past the encoder's scale: it learns at its own, larger rate. Fixed
seeds, two epochs over every pair, 128 tokens; about 15 minutes on two idle cores. Only `train.jsonl` is read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path

EVAL = Path("/work/shared/eval")
OUT = Path(__file__).resolve().parent.parent / "rag" / "answer" / "reader"


def _sentences(text: str) -> list[str]:
    from rag.question.sentences import sentence_spans

    return [text[s:e] for s, e in sentence_spans(text)]


def pairs(data: Path, negatives: int, seed: int) -> list[tuple[str, str, float]]:
    """(question, sentence, label) pairs: gold sentences 1, lexically close others 0."""
    from rag.question.words import stem, terms

    rng = random.Random(seed)
    articles = {}
    for line in (data / "corpus.jsonl").open():
        doc = json.loads(line)
        articles[doc["id"]] = [(s, {stem(w) for w in terms(s)}) for s in _sentences(doc["text"])]
    out: list[tuple[str, str, float]] = []
    for line in (data / "train.jsonl").open():
        q = json.loads(line)
        candidates = articles[q["gold_doc_ids"][0]]
        gold = set(q["gold_evidence"])
        qs = {stem(w) for w in terms(q["question"])}
        ranked = sorted(candidates, key=lambda x: -len(qs & x[1]))
        others = [s for s, _ in ranked if not any(g in s or s in g for g in gold)]
        for g in gold:
            out.append((q["question"], g, 1.0))
        k = negatives if gold else negatives + 1
        chosen = others[: k - 1] + rng.sample(others[k - 1 :], 1) if len(others) > k else others[:k]
        out.extend((q["question"], s, 0.0) for s in chosen)
    rng.shuffle(out)
    return out


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch
    from safetensors.numpy import load_file, save_file
    from tokenizers import Tokenizer

    from rag.answer.reader import HEAD, READER_FILE, SHA_FILE, TRAINED_FROM
    from rag.index.embedder import resolve_model_path

    p = argparse.ArgumentParser(prog="python -m benchmarks.train_reader", description=__doc__)
    p.add_argument("--data", type=Path, default=EVAL / "squad")
    p.add_argument("--negatives", type=int, default=3, help="negative sentences a question (default 3)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5, help="the encoder layers' learning rate")
    p.add_argument("--head-lr", type=float, default=2e-3, help="the head's learning rate")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--limit", type=int, default=0, help="train on at most this many pairs (default 0: all)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)

    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    model_dir = Path(resolve_model_path(""))
    base = load_file(str(model_dir / "model.safetensors"))
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(a.max_tokens)
    data = pairs(a.data, a.negatives, a.seed)
    if a.limit:
        data = data[: a.limit]
    print(f"{len(data)} pairs, {sum(int(x[2]) for x in data)} positive", flush=True)

    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(str(model_dir))
    bert = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(v) for k, v in base.items()}
    missing = bert.load_state_dict(state, strict=False)
    print("not loaded:", missing.missing_keys, flush=True)
    head = torch.nn.Linear(config.hidden_size, 1)
    torch.nn.init.normal_(head.weight, std=0.02)
    torch.nn.init.zeros_(head.bias)
    trained_layers = set(range(TRAINED_FROM, config.num_hidden_layers))
    for name, param in bert.named_parameters():
        param.requires_grad = any(name.startswith(f"encoder.layer.{i}.") for i in trained_layers)
    encoder = [x for x in bert.parameters() if x.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": encoder, "lr": a.lr}, {"params": list(head.parameters()), "lr": a.head_lr, "weight_decay": 0.0}],
        weight_decay=0.01,
    )
    steps = a.epochs * ((len(data) + a.batch - 1) // a.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps)
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    bert.train()
    step, t0 = 0, time.time()
    for _ in range(a.epochs):
        for i in range(0, len(data), a.batch):
            batch = data[i : i + a.batch]
            enc = [tok.encode(q, s).ids for q, s, _ in batch]
            width = max(len(e) for e in enc)
            ids = torch.tensor([e + [0] * (width - len(e)) for e in enc])
            mask = torch.tensor([[1] * len(e) + [0] * (width - len(e)) for e in enc])
            out = bert(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
            m = mask.unsqueeze(-1).float()
            pooled = (out * m).sum(1) / m.sum(1).clamp(min=1e-9)
            unit = torch.nn.functional.normalize(pooled, dim=-1)
            logits = head(unit).squeeze(-1)
            loss = loss_fn(logits, torch.tensor([x[2] for x in batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 20 == 0 or step == steps:
                print(f"step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)

    weights = {
        name: param.detach().numpy().astype(np.float16)
        for name, param in bert.named_parameters()
        if param.requires_grad
    }
    weights[HEAD + ".weight"] = head.weight.detach().numpy().reshape(-1).astype(np.float16)
    weights[HEAD + ".bias"] = head.bias.detach().numpy().astype(np.float16)
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / READER_FILE
    save_file(weights, str(path), metadata={"trained_from": str(min(trained_layers)), "max_tokens": str(a.max_tokens)})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (a.out / SHA_FILE).write_text(f"{digest}  {READER_FILE}\n")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) sha256 {digest} in {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
