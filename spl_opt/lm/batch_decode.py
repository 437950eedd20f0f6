"""Batched greedy decoding on llama.cpp's low-level API: many prompts that share a prefix, one batch.

The prompts of one candidate share its system prompt. The shared token prefix is decoded once into
sequence 0 and copied to the other sequences (`llama_memory_seq_cp`: with a unified KV cache the
cells are shared, not duplicated); each sequence's own suffix is then decoded, and greedy decoding
steps all live sequences together, one token each per `llama_decode`, each stopping at its own end
(an end-of-generation token, a stop string, or `max_tokens`). The prefix stays cached between calls,
so consecutive calls for the same candidate pay for it once.

At temperature 0 the outputs equal one-at-a-time decoding up to float rounding: a batch changes the
shapes of the matrix products, and on a near-tie the argmax can flip (measured by benchmarks/speed.py).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Generation:
    """One sequence's result: the generated tokens and text, and why it ended ("stop" or "length")."""

    prompt_tokens: int
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: str = "length"


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def plan_groups(
    prompt_lengths: Sequence[int], prefix: int, max_tokens: int, n_ctx: int, n_seq: int
) -> list[list[int]]:
    """Split prompts into groups of at most `n_seq` whose KV cells (shared prefix once, then each
    suffix and its generated tokens) fit in `n_ctx`. Raises ValueError if one prompt alone cannot."""
    groups: list[list[int]] = []
    current: list[int] = []
    used = prefix
    for i, length in enumerate(prompt_lengths):
        need = length - prefix + max_tokens
        if prefix + need > n_ctx:
            raise ValueError(
                f"a prompt of {length} tokens plus {max_tokens} to generate exceeds n_ctx={n_ctx}"
            )
        if current and (len(current) >= n_seq or used + need > n_ctx):
            groups.append(current)
            current, used = [], prefix
        current.append(i)
        used += need
    if current:
        groups.append(current)
    return groups


class BatchDecoder:
    """Greedy multi-sequence decoding over a loaded `llama_cpp.Llama` model, in a context of its own.

    `tokenize(text) -> tokens` and `detokenize(tokens, prev) -> bytes` come from the Llama object so
    prompts and texts match its one-at-a-time path. Not thread safe: one caller at a time.
    """

    def __init__(
        self,
        llama: Any,
        *,
        n_seq: int = 16,
        n_ctx: int = 8192,
        n_batch: int = 512,
        n_threads: int = 1,
    ) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._llama = llama
        self.n_seq = n_seq
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.kv_unified = True
        params.no_perf = True
        model = llama._model.model
        self._ctx = llama_cpp.llama_init_from_model(model, params)
        if not self._ctx:
            raise RuntimeError(f"llama.cpp could not create a {n_seq}-sequence context of {n_ctx} tokens")
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self._batch = llama_cpp.llama_batch_init(max(n_batch, n_seq), 0, n_seq)
        self._cached: list[int] = []  # the prefix held in sequence 0 since the last call

    def close(self) -> None:
        if self._ctx:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None

    # ----- low level ---------------------------------------------------------------------------------
    def _decode(self, items: Sequence[tuple[int, int, int, bool]]) -> None:
        """Decode (token, position, sequence, wants_logits) items as one batch."""
        batch = self._batch
        for i, (token, pos, seq, logits) in enumerate(items):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(items)
        rc = self._lib.llama_decode(self._ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed with code {rc} (batch of {len(items)} tokens)")

    def _argmax(self, index: int) -> int:
        ptr = self._lib.llama_get_logits_ith(self._ctx, index)
        logits = np.ctypeslib.as_array(
            ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(self._n_vocab,)
        )
        return int(np.argmax(logits))

    def _load_prefix(self, prefix: list[int]) -> None:
        """Make sequence 0 hold exactly `prefix`, decoding only what the cache lacks; clear the rest."""
        keep = common_prefix(self._cached, prefix)
        self._lib.llama_memory_seq_rm(self._mem, 0, keep, -1)
        for seq in range(1, self.n_seq):
            self._lib.llama_memory_seq_rm(self._mem, seq, -1, -1)
        for start in range(keep, len(prefix), self.n_batch):
            chunk = prefix[start : start + self.n_batch]
            self._decode([(t, start + j, 0, False) for j, t in enumerate(chunk)])
        self._cached = list(prefix)

    # ----- generation --------------------------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[list[int]],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        on_step: Callable[[], None] | None = None,
    ) -> list[Generation]:
        """Greedy completions of `prompts` (token lists), in order. `on_step` is called after every
        `llama_decode`, so a caller can report progress."""
        if not prompts:
            return []
        prefix_len = min(len(p) for p in prompts) - 1
        for p in prompts[1:]:
            prefix_len = min(prefix_len, common_prefix(prompts[0], p))
        prefix = list(prompts[0][: max(prefix_len, 0)])
        results: list[Generation] = [Generation(prompt_tokens=len(p)) for p in prompts]
        for group in plan_groups([len(p) for p in prompts], len(prefix), max_tokens, self.n_ctx, self.n_seq):
            self._run_group(
                [prompts[i] for i in group], [results[i] for i in group], prefix, max_tokens, stop, on_step
            )
        return results

    def _run_group(
        self,
        prompts: list[list[int]],
        results: list[Generation],
        prefix: list[int],
        max_tokens: int,
        stop: Sequence[str],
        on_step: Callable[[], None] | None,
    ) -> None:
        self._load_prefix(prefix)
        for seq in range(1, len(prompts)):
            self._lib.llama_memory_seq_cp(self._mem, 0, seq, -1, -1)
        positions = [len(p) for p in prompts]
        pending: list[tuple[int, int, int, bool]] = []
        last_of: dict[int, int] = {}  # batch index -> sequence, for the sequences whose logits it holds
        next_token: dict[int, int] = {}
        for seq, prompt in enumerate(prompts):
            for pos in range(len(prefix), len(prompt)):
                if len(pending) == self.n_batch:
                    self._decode(pending)
                    next_token.update({s: self._argmax(i) for i, s in last_of.items()})
                    pending, last_of = [], {}
                    if on_step:
                        on_step()
                is_last = pos == len(prompt) - 1
                if is_last:
                    last_of[len(pending)] = seq
                pending.append((prompt[pos], pos, seq, is_last))
        self._decode(pending)
        next_token.update({s: self._argmax(i) for i, s in last_of.items()})
        if on_step:
            on_step()
        live = list(range(len(prompts)))
        while live:
            still: list[int] = []
            for seq in live:
                if self._accept(results[seq], prompts[seq], next_token[seq], max_tokens, stop):
                    still.append(seq)
            live = still
            if not live:
                break
            self._decode([(next_token[s], positions[s], s, True) for s in live])
            for i, s in enumerate(live):
                positions[s] += 1
                next_token[s] = self._argmax(i)
            if on_step:
                on_step()
        self._lib.llama_memory_seq_rm(self._mem, 0, len(prefix), -1)

    def _accept(
        self, result: Generation, prompt: list[int], token: int, max_tokens: int, stop: Sequence[str]
    ) -> bool:
        """Take `token` for this sequence; False once it has ended (EOG, a stop string, or the length)."""
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            result.finish_reason = "stop"
            result.text = self._text(result.tokens, prompt)
            return False
        result.tokens.append(token)
        text = self._text(result.tokens, prompt)
        hits = [text.index(s) for s in stop if s and s in text]
        if hits:
            result.text, result.finish_reason = text[: min(hits)], "stop"
            return False
        result.text = text
        if len(result.tokens) >= max_tokens:
            result.finish_reason = "length"
            return False
        return True

    def _text(self, tokens: list[int], prompt: list[int]) -> str:
        raw: bytes = self._llama.detokenize(tokens, prev_tokens=prompt)
        return raw.decode("utf-8", errors="ignore")
