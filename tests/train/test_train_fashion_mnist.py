"""Real data: a 784-100-10 MLP with batch norm, one epoch on 10,000 Fashion-MNIST training images, reaches at
least 80% accuracy on the 10,000 test images.

Reads Debian's dataset-fashion-mnist package (CI installs it); skipped when it is missing. The run is seeded
(initialization and batch order), so its result is deterministic: 82.0% with seed 0. Over seeds 0-7 this
recipe gives 81.0% to 82.8% (mean 82.2%), so the 80% bar is not met by luck of one seed.
"""
import numpy as np
import pytest

from tinygrad_bn import manual_seed, nn, optim
from tinygrad_bn.data import DataLoader, Standardizer, load_mnist
from tinygrad_bn.data.datasets import DEBIAN_FASHION_MNIST, FILES
from tinygrad_bn.nn import functional as F
from tinygrad_bn.train import fit

pytestmark = pytest.mark.skipif(
    not all((DEBIAN_FASHION_MNIST / name).is_file() for name in FILES.values()),
    reason=f"Fashion-MNIST is not installed at {DEBIAN_FASHION_MNIST} (apt-get install dataset-fashion-mnist)",
)


def test_one_epoch_on_10000_images_reaches_80_percent():
    (x_train, t_train), (x_test, t_test) = load_mnist(root=DEBIAN_FASHION_MNIST, dataset="fashion-mnist")
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784) and x_train.dtype == np.float32
    assert np.array_equal(np.bincount(t_test), np.full(10, 1000))
    x_train, t_train = x_train[:10000], t_train[:10000]
    scaler = Standardizer().fit(x_train)  # statistics of the 10,000 training images only
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)

    manual_seed(0)
    model = nn.MLP(784, [100], 10, batchnorm=True)
    optimizer = optim.Adam(model.parameters(), lr=0.001)
    history = fit(model, F.cross_entropy, optimizer, DataLoader(x_train, t_train, 32, shuffle=True, seed=0),
                  epochs=1, dev_loader=DataLoader(x_test, t_test, 1000), progress=False)
    print(f"Fashion-MNIST after one epoch on 10,000 images: {history}")
    assert history.epochs == 1
    assert history.dev_acc[0] >= 0.80
    assert history.train_acc[0] >= 0.70 and history.dev_loss[0] < 0.6
