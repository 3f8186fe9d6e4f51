"""m4.py: the PyTorch twin of bench/m4.gm (a CIFAR-shaped ResNet-18, SGD with momentum).

torchvision.models.resnet18(num_classes=classes) with the ImageNet stem (7x7 stride 2 and a
max-pool) replaced by the CIFAR stem (3x3 stride 1, no max-pool): the same layers, names and
default initialisation as bench/m4.gm, trained in training mode (batch statistics) with
torch.optim.SGD(lr 0.1, momentum 0.9, weight_decay 5e-4). PyTorch convolves with oneDNN here.
`width` scales every stage as the model file's const does (64 is torchvision's). See common.py
for the timing and usage.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

args = common.parse_args("m4")
common.setup_threads(args.threads)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torchvision.models.resnet import BasicBlock, ResNet  # noqa: E402


class CifarResNet(ResNet):
    """torchvision's ResNet-18 with the CIFAR stem and a configurable base width."""

    def __init__(self, width, classes):
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=classes)
        # torchvision hard-codes 64; rebuild the stages for another width (the bench's toy sizes).
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(BasicBlock, width, 2)
        self.layer2 = self._make_layer(BasicBlock, 2 * width, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, 4 * width, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, 8 * width, 2, stride=2)
        self.fc = nn.Linear(8 * width, classes)


def main():
    c = args.consts
    torch.manual_seed(0)
    net = CifarResNet(c["width"], c["classes"])
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    batches = common.load_batches(args.data_dir, ["x", "y"], c["batch"])
    common.run("m4", args, net, opt, batches, lambda m, b: F.cross_entropy(m(b["x"]), b["y"]))


if __name__ == "__main__":
    main()
