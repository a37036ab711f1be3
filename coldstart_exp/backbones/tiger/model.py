"""TIGER as a spine `Backbone`: semantic-ID seq2seq trained by teacher forcing, decoded by beam search.

Tokens: 0 pad, 1 BOS, 2..U+1 hashed user buckets, then the code tokens of each ID level (level l
code c -> code_base + l * width + c). The encoder reads [user] + the history's ID tokens; the
decoder emits the next item's ID one level at a time, with a softmax over that level's codes.

Training covers every prefix of each training window. `encoder_attention=causal` (design choice,
default) encodes a window once with a causal mask; the decoder block for target t cross-attends only
to the user token and items <= t, which equals encoding each prefix on its own with a causal
encoder — every prefix for the price of one pass. `bidirectional` (the paper's encoder) encodes each
prefix separately (optionally at most `max_prefixes` sampled per batch).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from ..base import Backbone
from .semantic_ids import build_semantic_ids
from .seq2seq import Seq2Seq
from .trie import Trie

log = logging.getLogger(__name__)
PAD, BOS, USER0 = 0, 1, 2


class TIGER(Backbone):
    generative = True  # ranks by decoding item IDs from an encoder memory (hooks below), not by item scores

    def __init__(self, n_items: int, n_users: int, max_len: int, d_model: int = 128, enc_layers: int = 4,
                 dec_layers: int = 4, heads: int = 6, head_dim: int = 64, ffn: int = 1024, dropout: float = 0.1,
                 user_buckets: int = 2000, user_token: bool = True, encoder_attention: str = "causal", max_prefixes: int | None = None,
                 beam_size: int = 20, decode_batch: int = 256, rqvae: dict | None = None,
                 encoder: dict | None = None, levels: int = 3, codes: int = 256, collision_codes: int = 256,
                 **_: object):
        super().__init__()
        if encoder_attention not in ("causal", "bidirectional"):
            raise ValueError(f"encoder_attention must be causal|bidirectional, got {encoder_attention!r}")
        self.n_items, self.max_len, self.user_buckets, self.user_token = n_items, max_len, user_buckets, user_token
        self.causal, self.max_prefixes = encoder_attention == "causal", max_prefixes
        self.beam_size, self.decode_batch = beam_size, decode_batch
        self.depth = levels + 1
        self.sizes = [codes] * levels + [collision_codes]
        self.width = max(self.sizes)
        self.code_base = USER0 + user_buckets
        self.rqvae_cfg = dict(rqvae or {}, levels=levels, codes=codes)
        self.encoder_cfg = dict(encoder or {})
        self.net = Seq2Seq(self.code_base + self.depth * self.width, self.code_base, self.depth * self.width,
                           d_model, enc_layers, dec_layers, heads, head_dim, ffn, dropout,
                           1 + max_len * self.depth, self.depth)
        self.register_buffer("sem", torch.zeros(0, self.depth, dtype=torch.long), persistent=False)
        self.register_buffer("trie_child", torch.zeros(0, dtype=torch.int32), persistent=False)
        self.register_buffer("trie_item", torch.zeros(0, dtype=torch.long), persistent=False)
        self._restricted: dict = {}
        self.facts: dict = {}

    # -- items -------------------------------------------------------------------------------
    def prepare_items(self, tables, cache_dir: str) -> dict:
        """Semantic IDs (cached per data set) and the prefix trie; called once before training.
        Returns the tokenizer facts ({"tiger_tokenizer": {...}}) for the caller to record."""
        ids, report = build_semantic_ids(tables, cache_dir, self.rqvae_cfg, self.encoder_cfg,
                                         seed=int(self.rqvae_cfg.get("seed", 0)))
        self.set_semantic_ids(ids)
        self.facts = {"tiger_tokenizer": {k: report[k] for k in (
            "utilisation", "collision_rate", "max_collisions", "distinct_prefixes", "recon_first", "recon_last",
            "dead_code_resets", "fit_s", "encode_s", "cached", "dir") if k in report}}
        log.info("TIGER tokenizer: %s", self.facts["tiger_tokenizer"])
        return self.facts

    def set_semantic_ids(self, ids: np.ndarray) -> None:
        """(n_items + 1, depth) IDs, row 0 = padding; builds the trie over items 1..n."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.shape != (self.n_items + 1, self.depth):
            raise ValueError(f"semantic IDs shape {ids.shape}, expected {(self.n_items + 1, self.depth)}")
        too_big = [lvl for lvl in range(self.depth) if ids[1:, lvl].max() >= self.sizes[lvl]]
        if too_big:
            raise ValueError(f"semantic ID codes exceed the vocabulary at levels {too_big} "
                             f"(sizes {self.sizes}); raise backbone.model.collision_codes")
        trie = Trie(ids[1:], np.arange(1, len(ids)), self.width)
        dev = self.sem.device
        self.sem = torch.from_numpy(ids).clamp(min=0).to(dev)
        self.trie_child, self.trie_item = trie.child.to(dev), trie.item.to(dev)
        self._restricted = {}

    def _check_ready(self) -> None:
        if not len(self.sem):
            raise RuntimeError("TIGER needs semantic IDs: call backbone.prepare_items(tables, cache_dir) first")

    # -- public hooks (methods that wrap TIGER, e.g. SCoTER, use these) -------------------------
    @property
    def d_model(self) -> int:
        return self.net.tok.embedding_dim

    def item_tokens(self, items: torch.Tensor) -> torch.Tensor:
        """(..., ) item ids -> (..., depth) code tokens (0 for padding items)."""
        off = self.code_base + torch.arange(self.depth, device=items.device) * self.width
        return torch.where((items > 0).unsqueeze(-1), self.sem[items] + off, PAD)

    def encode_history(self, seq: torch.Tensor, user: torch.Tensor,
                       causal: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder memory (B, 1 + L*depth, d) of [user] + the history's ID tokens, and its key-validity
        mask (B, 1 + L*depth); `causal` defaults to the configured encoder attention."""
        causal = self.causal if causal is None else causal
        B, L = seq.shape
        D = self.depth
        user_tok = USER0 + (user.long() * 2654435761) % self.user_buckets  # Knuth multiplicative hash
        if not self.user_token:  # ablation: one shared token instead of the user's bucket
            user_tok = torch.full_like(user_tok, USER0)
        tokens = torch.cat([user_tok.unsqueeze(1), self.item_tokens(seq).reshape(B, L * D)], 1)
        order = ((seq > 0).long().cumsum(1) - 1).clamp(min=0)  # item position from the first real item
        pos = (1 + order.unsqueeze(-1) * D + torch.arange(D, device=seq.device)).reshape(B, L * D)
        pos = torch.cat([torch.zeros(B, 1, dtype=torch.long, device=seq.device), pos], 1)
        valid = tokens > 0
        S = tokens.shape[1]
        mask = valid[:, None, None, :]
        if causal:
            tri = torch.ones(S, S, dtype=torch.bool, device=seq.device).tril()
            mask = (mask & tri) | torch.eye(S, dtype=torch.bool, device=seq.device)
        return self.net.encode(tokens, pos.clamp(max=self.net.enc_pos.num_embeddings - 1), mask), valid

    def level_logits(self, h: torch.Tensor, level: int) -> torch.Tensor:
        """Logits over the codes of ID level `level` from decoder states h (..., d)."""
        w = self.net.head.weight[level * self.width: level * self.width + self.sizes[level]]
        return h @ w.T

    def id_loss(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """h (N, depth, d) decoder states, targets (N,) items: mean CE over the ID levels."""
        codes = self.sem[targets]
        return sum(F.cross_entropy(self.level_logits(h[:, lvl], lvl), codes[:, lvl])
                   for lvl in range(self.depth)) / self.depth

    def decoder_inputs(self, targets: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: [BOS, tok_0, ..., tok_{depth-2}] of each target item."""
        tok = self.item_tokens(targets)
        return torch.cat([torch.full_like(tok[..., :1], BOS), tok[..., :-1]], -1)

    def decode_targets(self, memory: torch.Tensor, valid: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoder states (N, depth, d) of one target item per memory row, attending to
        every valid memory key; `id_loss(h, targets)` / `level_logits` turn them into loss / logits."""
        D = self.depth
        causal_dec = torch.ones(D, D, dtype=torch.bool, device=memory.device).tril()
        return self.net.decode(self.decoder_inputs(targets), torch.arange(D, device=memory.device), causal_dec,
                               memory, valid[:, None, None, :])

    # -- training ----------------------------------------------------------------------------

    def loss(self, batch: dict) -> torch.Tensor:
        self._check_ready()
        seq, pos, user = batch["seq"], batch["pos"], batch["user"]
        B, L = seq.shape
        D = self.depth
        dpos = torch.arange(D, device=seq.device)
        causal_dec = torch.ones(D, D, dtype=torch.bool, device=seq.device).tril()
        if self.causal:
            memory, valid = self.encode_history(seq, user, causal=True)
            T, S = L * D, memory.shape[1]
            blk = torch.arange(T, device=seq.device) // D  # decoder token -> its target position t
            key_item = torch.cat([torch.full((1,), -1, device=seq.device), torch.arange(S - 1, device=seq.device) // D])
            cross = (key_item[None, :] <= blk[:, None])[None, None] & valid[:, None, None, :]
            # (B, L, D) decoder tokens: self-attention stays inside each target's block (like beams)
            h = self.net.decode(self.decoder_inputs(pos), dpos, causal_dec, memory, cross)
            keep = pos > 0
            return self.id_loss(h[keep], pos[keep])
        b, t = (pos > 0).nonzero(as_tuple=True)  # one sample per prefix
        if self.max_prefixes and len(b) > self.max_prefixes:
            pick = torch.randperm(len(b), device=seq.device)[: self.max_prefixes]
            b, t = b[pick], t[pick]
        src = torch.arange(L, device=seq.device)[None, :] - (L - 1 - t)[:, None]
        pref = torch.where(src >= 0, seq[b[:, None], src.clamp(min=0)], 0)
        pref = pref[:, (pref > 0).any(0)]  # drop all-padding columns
        memory, valid = self.encode_history(pref, user[b], causal=False)
        targets = pos[b, t]
        h = self.net.decode(self.decoder_inputs(targets), dpos, causal_dec, memory, valid[:, None, None, :])
        return self.id_loss(h, targets)

    # -- decoding ----------------------------------------------------------------------------
    def _trie_for(self, candidates: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if candidates is None:
            return self.trie_child, self.trie_item
        key = (int(candidates.sum()), hash(candidates.nonzero().flatten().cpu().numpy().tobytes()))
        if key not in self._restricted:
            items = candidates.nonzero().flatten().cpu().numpy()
            items = items[items > 0]
            trie = Trie(self.sem[torch.from_numpy(items).to(self.sem.device)].cpu().numpy(), items, self.width)
            self._restricted = {key: (trie.child.to(self.sem.device), trie.item.to(self.sem.device))}
        return self._restricted[key]

    @torch.no_grad()
    def generate(self, batch: dict, beam: int, item_ok: torch.Tensor | None = None,
                 candidates: torch.Tensor | None = None, memory_fn=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Constrained beam search: (B, beam) item ids (0 = no valid beam) and log-probabilities, best
        first. `item_ok` (B, n_items + 1) bool filters the leaves; `candidates` restricts the trie;
        `memory_fn(memory, valid, rows)` may replace the encoder memory of the batch rows `rows`
        (a slice) before decoding (e.g. SCoTER's fused memory)."""
        self._check_ready()
        child, leaf = self._trie_for(candidates)
        seq, user = batch["seq"], batch["user"]
        outs = []
        for i in range(0, len(seq), self.decode_batch):
            rows = slice(i, i + self.decode_batch)
            fn = None if memory_fn is None else (lambda m, v, rows=rows: memory_fn(m, v, rows))
            outs.append(self._beam(seq[rows], user[rows], beam, child, leaf,
                                   None if item_ok is None else item_ok[rows], fn))
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

    def _beam(self, seq, user, beam, child, leaf, item_ok, memory_fn=None):
        memory, valid = self.encode_history(seq, user)
        if memory_fn is not None:
            memory = memory_fn(memory, valid)
        B, D, dev = seq.shape[0], self.depth, seq.device
        cross = valid[:, None, None, :]
        node = torch.zeros(B, 1, dtype=torch.long, device=dev)
        score = torch.zeros(B, 1, device=dev)
        toks = torch.full((B, 1, 1), BOS, dtype=torch.long, device=dev)
        for lvl in range(D):
            w, n = node.shape[1], self.sizes[lvl]
            mask = torch.ones(lvl + 1, lvl + 1, dtype=torch.bool, device=dev).tril()
            h = self.net.decode(toks, torch.arange(lvl + 1, device=dev), mask, memory, cross)[:, :, -1]
            logp = self.level_logits(h, lvl).float().log_softmax(-1)  # (B, w, n)
            nxt = child[node][..., :n].long()  # (B, w, n)
            ok = nxt >= 0
            if lvl == D - 1 and item_ok is not None:
                ok &= item_ok.gather(1, leaf[nxt.clamp(min=0)].reshape(B, -1)).view(B, w, n)
            cand = (score.unsqueeze(-1) + logp).masked_fill(~ok, float("-inf")).view(B, w * n)
            score, idx = cand.topk(min(beam, w * n), dim=1)
            parent, code = idx // n, idx % n
            node = nxt.reshape(B, -1).gather(1, idx).clamp(min=0)
            tok = self.code_base + lvl * self.width + code
            toks = torch.cat([toks.gather(1, parent[..., None].expand(-1, -1, toks.shape[-1])),
                              torch.full_like(tok[..., None], BOS)], -1)
            toks[..., -1] = tok
        items = torch.where(torch.isfinite(score), leaf[node], 0)
        return items, score

    def topk(self, batch: dict, k: int, exclude: torch.Tensor | None = None,
             candidates: torch.Tensor | None = None, memory_fn=None) -> torch.Tensor:
        item_ok = None
        if exclude is not None and exclude.numel():
            item_ok = torch.ones(len(exclude), self.n_items + 1, dtype=torch.bool, device=exclude.device)
            item_ok.scatter_(1, exclude, False)
            item_ok[:, 0] = False
        items, _ = self.generate(batch, max(self.beam_size, k), item_ok, candidates, memory_fn)
        return items[:, :k]

    def scores(self, batch: dict) -> torch.Tensor:
        """Beam log-probabilities scattered over items (-inf outside the beam); for callers that
        want a score vector. Ranking should use `topk` (exact constrained decoding)."""
        items, score = self.generate(batch, self.beam_size)
        out = torch.full((len(items), self.n_items + 1), float("-inf"), device=score.device).scatter(1, items, score)
        out[:, 0] = float("-inf")
        return out

