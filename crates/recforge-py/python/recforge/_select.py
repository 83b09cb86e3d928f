"""Data selection on texts in memory: :func:`select`."""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple, Union

from . import _native
from ._progress import ProgressArg, callback


def select(
    texts: Sequence[str],
    sampler: str = "density",
    keep: float = 0.1,
    cache: Optional[Union[str, "os.PathLike[str]"]] = None,
    *,
    mode: Optional[str] = None,
    threshold: Optional[float] = None,
    llm: Optional[Union[str, "os.PathLike[str]"]] = None,
    encoder: Optional[Union[str, "os.PathLike[str]"]] = None,
    batch_size: int = 8,
    seed: int = 0,
    progress: ProgressArg = True,
    return_scores: bool = False,
) -> Union[List[int], Tuple[List[int], List[float]]]:
    """Indices (ascending) of the texts a data-selection sampler keeps, as ``recforge select``.

    Args:
        texts: the documents.
        sampler: ``askllm`` (an instruction-tuned LLM judges each text; Ask-LLM), ``density``
            (inverse-propensity sampling by kernel density of sentence embeddings), ``perplexity``,
            ``semdedup`` or ``random``.
        keep: fraction kept (top-k and inverse-propensity modes).
        cache: a redb feature cache file: reruns skip texts already scored.
        mode: ``topk``, ``threshold`` or ``ipw`` (default: the sampler's published mode).
        threshold: the score threshold for ``mode="threshold"``.
        llm: GGUF model for askllm/perplexity (default: the fetched SmolLM2-135M-Instruct).
        encoder: sentence-encoder folder for density/semdedup (default: the fetched
            all-MiniLM-L6-v2), or ``"hashed"`` for the model-free embedder.
        return_scores: also return every text's score.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    kept, scores = _native.select(
        list(texts),
        sampler=sampler,
        keep=keep,
        mode=mode,
        threshold=threshold,
        cache=os.fspath(cache) if cache is not None else None,
        llm=os.fspath(llm) if llm is not None else None,
        encoder=os.fspath(encoder) if encoder is not None else None,
        batch_size=batch_size,
        seed=seed,
        progress=callback(progress),
    )
    return (kept, scores) if return_scores else kept
