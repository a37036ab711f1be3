"""The encoder-decoder transformer of TIGER (T5-like: pre-norm, heads x head_dim independent of d).

The paper's sizes (d 128, 6 heads x 64, FFN 1024) need an attention inner width (384) different from
the model width, which torch's built-in layers do not allow, hence these small layers. Masks are
boolean, True = may attend, broadcastable to (B, heads, T, S).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..base import transformer_init


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, head_dim: int, dropout: float):
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, head_dim, dropout
        self.q = nn.Linear(d, heads * head_dim, bias=False)
        self.kv = nn.Linear(d, 2 * heads * head_dim, bias=False)
        self.o = nn.Linear(heads * head_dim, d, bias=False)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], self.heads, self.head_dim).transpose(-3, -2)

    def forward(self, x: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        q = self.split(self.q(x))
        k, v = (self.split(t) for t in self.kv(kv).chunk(2, -1))
        # no dropout on attention weights (design choice: its masks cost more than the attention on CPU)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o(out.transpose(-3, -2).reshape(*x.shape[:-1], -1))


class Block(nn.Module):
    def __init__(self, d: int, heads: int, head_dim: int, ffn: int, dropout: float, cross: bool):
        super().__init__()
        self.n1, self.att = nn.LayerNorm(d), Attention(d, heads, head_dim, dropout)
        self.cross = Attention(d, heads, head_dim, dropout) if cross else None
        self.n2 = nn.LayerNorm(d) if cross else None
        self.n3 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ffn), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask, memory=None, memory_mask=None):
        h = self.n1(x)
        x = x + self.drop(self.att(h, h, mask))
        if self.cross is not None:  # beams (B, W, T, d) share their user's memory (B, S, d): fold W into T
            shape = x.shape
            flat = x.reshape(memory.shape[0], -1, shape[-1])
            x = x + self.drop(self.cross(self.n2(flat), memory, memory_mask)).view(shape)
        return x + self.drop(self.ff(self.n3(x)))


class Seq2Seq(nn.Module):
    """Token embeddings shared by encoder and decoder; a head over the semantic-ID code tokens."""

    def __init__(self, vocab: int, code_base: int, n_codes: int, d: int, enc_layers: int, dec_layers: int,
                 heads: int, head_dim: int, ffn: int, dropout: float, max_positions: int, dec_len: int):
        super().__init__()
        self.code_base = code_base
        self.tok = nn.Embedding(vocab, d, padding_idx=0)
        self.enc_pos = nn.Embedding(max_positions, d)
        self.dec_pos = nn.Embedding(dec_len, d)
        self.drop = nn.Dropout(dropout)
        self.enc = nn.ModuleList(Block(d, heads, head_dim, ffn, dropout, False) for _ in range(enc_layers))
        self.dec = nn.ModuleList(Block(d, heads, head_dim, ffn, dropout, True) for _ in range(dec_layers))
        self.enc_norm, self.dec_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.head = nn.Linear(d, n_codes, bias=False)
        self.apply(transformer_init)

    def encode(self, tokens: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.tok(tokens) + self.enc_pos(positions))
        for blk in self.enc:
            x = blk(x, mask)
        return self.enc_norm(x)

    def decode(self, tokens: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None,
               memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        """Decoder states (..., T, d); `tokens` is (B, T) or (B, W, T) for W beams per user."""
        x = self.drop(self.tok(tokens) + self.dec_pos(positions))
        for blk in self.dec:
            x = blk(x, mask, memory, memory_mask)
        return self.dec_norm(x)
