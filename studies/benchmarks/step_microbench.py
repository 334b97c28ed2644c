"""Images/s of one training step (forward, backward, Adam) of the paper's CIFAR-10 Conv2D and
Light k=3 networks on random data, NCHW vs channels_last, at batch 64, 128, 256 and 512.
It is how the CPU batch and memory format of the fast recipe were chosen (RESULTS.md).

    python studies/benchmarks/step_microbench.py
"""

import time, torch
from lightlayers import build_model, reference_spec
torch.manual_seed(0)
for fam,k in [("light",3),("conv",None)]:
    spec = reference_spec("cifar10", fam, k) if k else reference_spec("cifar10", fam)
    for cl in [False, True]:
        for bs in [64,128,256,512]:
            m = build_model(spec)
            if cl: m = m.to(memory_format=torch.channels_last)
            opt = torch.optim.Adam(m.parameters(), 1e-3)
            x = torch.randn(bs,3,32,32); y = torch.randint(0,10,(bs,))
            if cl: x = x.contiguous(memory_format=torch.channels_last)
            for i in range(2):
                loss = torch.nn.functional.cross_entropy(m(x),y); opt.zero_grad(); loss.backward(); opt.step()
            n=0; t=time.perf_counter()
            while time.perf_counter()-t < 4:
                loss = torch.nn.functional.cross_entropy(m(x),y); opt.zero_grad(); loss.backward(); opt.step(); n+=bs
            print(fam, k, "cl" if cl else "nchw", bs, round(n/(time.perf_counter()-t),1), flush=True)
