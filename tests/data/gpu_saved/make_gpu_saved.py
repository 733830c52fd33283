"""Write model files the way a GPU training run saves them, for the CPU loader tests.

Run on a machine with a CUDA device: ``python tests/data/gpu_saved/make_gpu_saved.py OUTDIR``.
Every tensor in these files is a CUDA tensor, so each one records the location "cuda:0";
reference.npz holds an input and what nn.LSTM on the GPU returned for it, to compare with.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn


class Tagger(nn.Module):
    """A small sequence tagger as a user's training script would define it."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(12, 4)
        self.rnn = nn.LSTM(4, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.out = nn.Linear(12, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(self.embed(tokens))[0])


def main(out: Path) -> None:
    assert torch.cuda.is_available(), "run this on a machine with a CUDA device"
    torch.manual_seed(11)
    out.mkdir(parents=True, exist_ok=True)
    net = Tagger().cuda()
    opt = torch.optim.Adam(net.parameters())
    tokens = torch.randint(0, 12, (2, 9), device="cuda")
    net(tokens).sum().backward()
    opt.step()  # an optimizer state with CUDA tensors, as a real checkpoint has
    net.eval()
    torch.save(net.state_dict(), out / "state_dict.pt")
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 4},
               out / "checkpoint.pt")
    torch.save(net, out / "whole_module.pt")  # pickles __main__.Tagger: not importable later
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net.rnn).save(str(out / "torchscript.pt"))
    rnn = getattr(torch.backends.cudnn, "rnn", None)  # the reference in IEEE float32, not TF32
    if getattr(rnn, "fp32_precision", None) is not None:
        rnn.fp32_precision = "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = False
    with torch.no_grad():
        emb = net.embed(tokens)
        output, (h_n, c_n) = net.rnn(emb)
    np.savez(out / "reference.npz", input=emb.cpu().numpy(), output=output.cpu().numpy(),
             h_n=h_n.cpu().numpy(), c_n=c_n.cpu().numpy(),
             embedding=net.embed.weight.detach().cpu().numpy(),
             head_weight=net.out.weight.detach().cpu().numpy(),
             torch_version=np.array(torch.__version__),
             device=np.array(torch.cuda.get_device_name()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
