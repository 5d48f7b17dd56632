"""See inside: what the tokenizers made of a mixed input and where the model's attention goes.

from multimodal import load, viz
seen = viz.look(load("last.ckpt"), ["photo.png", "The digit is"])
viz.query_figure(seen, layer=3).savefig("where.png")   # matplotlib figures
viz.write_page(seen, "out/index.html")                  # one self-contained page
"""

from multimodal.viz.figures import attention_figure, heads_figure, query_figure, tokens_figure
from multimodal.viz.look import Look, look

__all__ = ["Look", "look", "tokens_figure", "attention_figure", "heads_figure", "query_figure"]
