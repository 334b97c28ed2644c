"""A point at any share of the parent's parameters, allocated the way the search's warm starts are.

The search queues allocated starts at a quarter, 35 % and half of the parameters (ranksearch.config.WARM_SHARES);
the issue's mark is 30 %. This reads a point exported from the run (for its model, data and recipe),
allocates each layer's family and rank at ``--share`` from the parent's spectra, exactly as a warm start,
and writes the point for `ranksearch train --config`. The space is `all`, the search's default
(an exported point does not record its run's space).

    ranksearch export runs/resnet20-cifar10 --trial 3 -o t3.json
    python studies/resnet20-cifar10/allocated_point.py t3.json --share 0.3 -o p30.json
"""

from __future__ import annotations

import argparse
import json

from lightlayers.network import NetworkSpec, build_network, load_weights
from ranksearch.starts import Spectra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("point", help="a point exported from the run (ranksearch export ... -o point.json)")
    ap.add_argument("--share", type=float, required=True, help="of the parent's trainable parameters")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    if not 0 < args.share <= 1:
        raise SystemExit(f"--share {args.share} is not a share of the parameters: give one in (0, 1], e.g. 0.3")
    try:
        point = json.load(open(args.point))
        point["model"]["source"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"{args.point} is not a point exported from a run ({e}); write one with `ranksearch export RUN --trial N -o point.json`")
    model = dict(point["model"], layers={})
    weights = model.pop("weights", None) or point["parent"]
    spec = NetworkSpec.from_dict(model)
    parent = spec.base()
    load_weights(parent, weights)
    spectra = Spectra(spec, "all", parent)
    layers = spectra.layers_allocated(spectra.budget(args.share))
    if layers is None:
        raise SystemExit(f"no allocation fits {args.share:.0%} of the parameters")
    point["model"]["layers"] = {k: {"family": c.family, **({"rank": c.rank} if c.rank else {})} for k, c in layers.items()}
    params = sum(p.numel() for p in build_network(spec.with_layers(layers)).parameters() if p.requires_grad)
    json.dump(point, open(args.output, "w"), indent=2)
    print(f"{params:,} trainable parameters, {params / spectra.total_params:.1%} of the parent's -> {args.output}")


if __name__ == "__main__":
    main()
