"""Batch normalization composed from primitive ops, and the gradients autodiff finds for it.

    python examples/composed_gradients.py

Builds y = gamma * (x - mean) / sqrt(var + eps) + beta from Tensor operations on a small batch,
backpropagates a loss, prints the gradients, compares dx with the closed-form BN backward, and takes a
second derivative through BN (a Hessian-vector product), which a hand-written backward that treats
1/std as a constant would get wrong.
"""
import numpy as np

from tinygrad_bn import Tensor, grad

rng = np.random.default_rng(0)
x = Tensor(rng.normal(3.0, 2.0, size=(6, 3)), requires_grad=True)  # float64: 6 examples, 3 features
gamma = Tensor(np.ones(3), requires_grad=True)
beta = Tensor(np.zeros(3), requires_grad=True)
target = rng.standard_normal((6, 3))

mean = x.mean(axis=0, keepdims=True)  # the four formulas, one Tensor op or two each
centered = x - mean
var = (centered * centered).mean(axis=0, keepdims=True)
x_hat = centered / (var + 1e-5).sqrt()
y = gamma * x_hat + beta

loss = ((y - target) ** 2).mean()
dx, dgamma, dbeta = grad(loss, [x, gamma, beta], create_graph=True)
print("dloss/dgamma =", dgamma.numpy())
print("dloss/dbeta  =", dbeta.numpy())
print("dloss/dx     =\n", dx.numpy())

# the textbook closed form, for comparison
n = x.shape[0]
dy = 2 * (y.numpy() - target) / y.size
dxhat = dy * gamma.numpy()
inv_std = 1 / np.sqrt(var.numpy() + 1e-5)
closed = inv_std / n * (n * dxhat - dxhat.sum(0) - x_hat.numpy() * (dxhat * x_hat.numpy()).sum(0))
print("largest difference from the closed form:", np.abs(dx.numpy() - closed).max())

# second order: the Hessian-vector product H v = d(dx . v)/dx
v = Tensor(rng.standard_normal(x.shape))
(hv,) = grad((dx * v).sum(), x)
print("Hessian-vector product, first row:", hv.numpy()[0])
