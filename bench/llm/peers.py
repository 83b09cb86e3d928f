"""Peers of `recforge bench llm`: llama.cpp (llama-cpp-python) and sentence-transformers on the
workload recforge wrote (same prompts, same sentences, same thread count). Prints one JSON object;
a peer that is not installed is reported as skipped with the reason."""
import json
import os
import sys
import time

work = json.load(open(sys.argv[1]))
threads = os.cpu_count() or 1
out = {}

try:
    from llama_cpp import Llama

    llm = Llama(model_path=work["model"], n_ctx=2048, n_threads=threads, n_batch=512, verbose=False)
    toks = [llm.tokenize(p.encode(), add_bos=False, special=True) for p in work["prompts"]]
    llm.reset(); llm.eval(toks[0])  # warm-up
    start = time.perf_counter()
    for t in toks:
        llm.reset()
        llm.eval(t)
    s = time.perf_counter() - start
    n = sum(len(t) for t in toks)
    start = time.perf_counter()
    res = llm(work["gen_prompt"], max_tokens=work["gen_tokens"], temperature=0.0)
    g = time.perf_counter() - start
    gen = res["usage"]["completion_tokens"]
    out["llama_cpp"] = {"prompt_tokens": n, "score_s": s, "prompt_tokens_per_s": n / s,
                        "docs_per_s": len(toks) / s, "generated_tokens": gen,
                        "generation_tokens_per_s": gen / g}
except Exception as e:  # noqa: BLE001 - report why the peer did not run
    out["llama_cpp"] = {"skipped": repr(e)}

try:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(work["encoder"], device="cpu")
    model.encode(work["sentences"][:8])
    start, cpu = time.perf_counter(), time.process_time()
    model.encode(work["sentences"], batch_size=32)
    s, cpu = time.perf_counter() - start, time.process_time() - cpu
    out["sentence_transformers"] = {"sentences": len(work["sentences"]), "embeddings_per_s": len(work["sentences"]) / s,
                                    "cpu_s": cpu, "torch": torch.__version__}
except Exception as e:  # noqa: BLE001
    out["sentence_transformers"] = {"skipped": repr(e)}

print(json.dumps(out))
