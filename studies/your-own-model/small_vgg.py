"""An example of "your own model": a small VGG-style CNN in a file of its own.

ranksearch imports it from its path and class name, so it needs nothing from ranksearch:

    ranksearch summary --model studies/your-own-model/small_vgg.py:SmallVGG --dataset cifar10
    ranksearch run --model studies/your-own-model/small_vgg.py:SmallVGG --dataset cifar10 --budget 20

``num_classes`` is filled in from the data because the constructor takes it.
"""

from torch import nn


class SmallVGG(nn.Module):
    """Three stages of two 3x3 convolutions (BatchNorm, ReLU) and a 2x2 max-pool, then a linear head."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32) -> None:
        super().__init__()
        layers, c = [], in_channels
        for stage, w in enumerate((width, 2 * width, 4 * width)):
            for i in range(2):
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                c = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))
