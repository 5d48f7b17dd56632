"""`ImageTokenizer`: the module half of images, patch vectors with 2D positions.

Shapes: S images in a batch, C channels, p patch side, h x w patch grid, L = h * w patches
(+ 1 with a class token), D width.

forward:  patches (S, L, C p p) from `ImagePreprocessor.collate` -> linear -> + 2D position of
          (row, column) -> [class token] -> + modality embedding, (S, L, D).
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from multimodal.tokenizer import Tokenizer
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor
from multimodal.tokenizers.patch_embed import PatchEmbed
from multimodal.tokenizers.pos_embed_2d import make_pos_embed


class ImageTokenizer(Tokenizer):
    """Patch grids to vectors.

    Args:
        d_model: output width D.
        pos_embed: "sincos" (fixed) or "learned" (interpolated from `pos_grid`).
        pos_grid: (rows, cols) of the learned position grid.
        **preprocess: `ImagePreprocessor`'s arguments (patch_size, channels, max_patches,
            class_token, augment, ...); with `class_token` this holds one learned token that
            starts every image.
    """

    preprocessor_class = ImagePreprocessor

    def __init__(
        self,
        d_model: int,
        *,
        pos_embed: str = "sincos",
        pos_grid: Sequence[int] = (14, 14),
        **preprocess,
    ):
        prep = ImagePreprocessor(**preprocess)
        super().__init__(d_model, prep)
        self.patch_embed = PatchEmbed(prep.channels, prep.patch_size, d_model)
        self.pos_embed = make_pos_embed(pos_embed, d_model, tuple(pos_grid))
        self.class_token = nn.Parameter(torch.randn(d_model) * 0.02) if prep.class_token else None

    def positions(self, grid: Tensor, length: int) -> Tensor:
        """2D positions for each image's grid, (S, length, D), or (1, length, D) if all match."""
        grids = [tuple(g) for g in grid.tolist()]
        tables = {hw: self.pos_embed(*hw) for hw in set(grids)}  # (h*w, D) each
        if len(tables) == 1:
            return next(iter(tables.values()))[None]  # (1, L, D)
        return torch.stack(
            [nn.functional.pad(tables[hw], (0, 0, 0, length - hw[0] * hw[1])) for hw in grids]
        )  # (S, L, D)

    def forward(self, collated: dict[str, Tensor]) -> Tensor:
        patches = collated["patches"]  # (S, L, C*p*p)
        x = self.patch_embed(patches)  # (S, L, D)
        x = x + self.positions(collated["grid"], patches.shape[1]).to(x.dtype)
        if self.class_token is not None:
            cls = self.class_token.to(x.dtype).expand(x.shape[0], 1, -1)  # (S, 1, D)
            x = torch.cat([cls, x], dim=1)  # (S, 1 + L, D)
        return x + self.modality_embedding.to(x.dtype)
