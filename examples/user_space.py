"""A search space written as an ordinary PyTorch build function.

    nasbeyond search --space examples/user_space.py:build --dataset mnist5k --trials 8 --epochs 1

``c.choice(name, options)`` is the only thing a build function needs from nasbeyond; every
strategy (random, evolution, reinforce, tpe, ...) searches the space it describes.
"""

from torch import nn


def build(c, task):
    channels = task.input_shape[0]
    layers = []
    for i in range(c.choice("depth", [1, 2, 3])):  # repeated blocks
        width = c.choice(f"block{i}.width", [16, 32, 48])
        kernel = c.choice(f"block{i}.kernel", [3, 5])
        layers += [
            nn.Conv2d(channels, width, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        # a choice that exists only when an earlier one allows it
        if c.choice(f"block{i}.downsample", [False, True]):
            layers.append(nn.MaxPool2d(c.choice(f"block{i}.pool", [2, 3]), 2, padding=1))
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if c.choice("hidden", [0, 64]):
        layers += [nn.Linear(channels, 64), nn.ReLU()]
        channels = 64
    layers.append(nn.Linear(channels, task.num_classes))
    return nn.Sequential(*layers)
