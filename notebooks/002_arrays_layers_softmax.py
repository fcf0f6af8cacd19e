# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Arrays, layer objects and a softmax network — seed 002 retold with portable_bp
#
# The seed introduces NumPy arrays and broadcasting, sketches a network as a list of layer objects
# (`forward_propagation` / `backward_propagation` / `update_parameters`: `Linear`, `Sigmoid`,
# `Softmax`) for a 784-100-10 network with cross-entropy, and describes gradient checking by central
# differences. Its layer code is "largely pseudo-code, and untested" (it stops with
# `NameError: name 'Sigmoid' is not defined`); here it is completed, run, and set beside portable_bp's
# equations. Every number the seed prints is printed and asserted below.
#
# **Data.** The 784-100-10 network wants MNIST's 28×28 digits, which cannot be downloaded on the
# machines this notebook is tested on. It uses scikit-learn's bundled 8×8 digits instead, upsampled
# to 28×28 = 784 pixels (nearest neighbour): the same shapes, a smaller and easier problem.

# %%
import os

BACKEND = os.environ.get("PORTABLE_BP_NOTEBOOK_BACKEND", "numpy")  # the ONE place the backend is chosen

import numpy as np

import portable_bp as pbp
from portable_bp import datasets

print(pbp.__version__, "on", BACKEND)

# %% [markdown]
# ## Arrays
# An array has a shape and a dtype; arithmetic is element-wise and not in place.

# %%
W = np.array([1, 2, 3])  # a vector
print(W.shape, W.dtype)
assert W.shape == (3,) and W.dtype == np.int64
W = W / 2
print(W, W.dtype)
assert W.tolist() == [0.5, 1.0, 1.5] and W.dtype == np.float64
W = np.arange(9).reshape((3, 3))
print(W, W + 1, W * W, sep="\n")
assert (W + 1).tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
assert (W * W).tolist() == [[0, 1, 4], [9, 16, 25], [36, 49, 64]]

# %% [markdown]
# ## Broadcasting
# An array with fewer dimensions is stretched to fit the other: "useful for example when adding biases
# to a minibatch".

# %%
V = np.array([0, 1, 1])
print(W * V, W.shape, V.shape)
assert (W * V).tolist() == [[0, 1, 2], [0, 4, 5], [0, 7, 8]] and (W.shape, V.shape) == ((3, 3), (3,))

# %% [markdown]
# That is exactly portable_bp's forward pass for a batch: with X of shape (N, d) and b^l of shape
# (n_l, 1), Z^l = A^{l-1} (W^l)ᵀ + (b^l)ᵀ adds the (1, n_l) row (b^l)ᵀ to every one of the N rows.
# The same code runs on every backend because it uses only the array API standard (`net.xp` is the
# backend's namespace):

# %%
net = pbp.MLP([3, 4, 2], seed=0, backend=BACKEND)
xp = net.xp
X = np.arange(15.0).reshape(5, 3) / 10
Xb = net.to_backend(X)
Z1 = xp.matmul(Xb, net.weights[0].T) + net.biases[0].T  # (5, 3) @ (3, 4) + (1, 4): broadcast over the batch
print(Z1.shape, type(Z1).__module__)
assert np.allclose(pbp.to_numpy(Z1), pbp.to_numpy(net.forward(X)[0][0]), rtol=0, atol=1e-15)

# %% [markdown]
# ## Algebra

# %%
V = np.array([1, 1, 1])
print(np.dot(W, V), np.dot(W, W), W.dot(W.T), sep="\n")
assert np.dot(W, V).tolist() == [3, 12, 21]
assert np.dot(W, W).tolist() == [[15, 18, 21], [42, 54, 66], [69, 90, 111]] and np.array_equal(W.dot(W), W @ W)
assert W.dot(W.T).tolist() == [[5, 14, 23], [14, 50, 86], [23, 86, 149]]
a = np.array([[1, 2, 3]])
A = np.ones(10)
print(a.shape, A[None, :, None].shape)
assert a.shape == (1, 3) and A[None, :, None].shape == (1, 10, 1)  # a stack of one (10, 1) column vector

# %% [markdown]
# ## Layer objects, beside the equations
#
# The seed's `Linear` stores W as (input_dim, output_dim) and works on rows, `input_.dot(W)`: that
# is (W^l)ᵀ in Nielsen's notation, so `Linear.W` below is `net.weights[l].T`. Each method, with the
# equation it computes (one row per sample; δ is ∂C/∂z, the gradient with respect to a layer's output
# is what flows back):
#
# | layer | forward | backward (gradient w.r.t. input) | update |
# |---|---|---|---|
# | Linear | z = W a + b | ∂C/∂a^{l-1} = (W^l)ᵀ δ^l | ∂C/∂W^l = δ^l (a^{l-1})ᵀ (BP4), ∂C/∂b^l = δ^l (BP3) |
# | Sigmoid | a = σ(z) | δ^l = ∂C/∂a^l ⊙ σ'(z^l) (BP2 with the line above) | — |
# | Softmax | a = softmax(z) | δ^L = J_softmax(z)ᵀ ∂C/∂a: with cross-entropy, a^L − y (BP1) | — |
#
# Two fixes to the seed's sketch: it updated each layer's W *before* passing the gradient back through
# it (backprop must use the weights of the forward pass), and it took the MEAN cost but the gradient
# of the SUM (no 1/N). Below every gradient is computed first, of the summed cost Σ_x C_x (what
# `net.backprop` returns), then one update with η/m.


# %%
class Layer:
    def forward_propagation(self, input_):
        raise NotImplementedError

    def backward_propagation(self, input_, gradient_wrt_output):
        raise NotImplementedError

    def gradients(self, input_, gradient_wrt_output):
        return []

    def update_parameters(self, grads, learning_rate):
        pass


class Linear(Layer):
    def __init__(self, W, b):  # W: (input_dim, output_dim) = (W^l)ᵀ; b: (1, output_dim) = (b^l)ᵀ
        self.W, self.b = W.copy(), b.copy()

    def forward_propagation(self, input_):
        return input_.dot(self.W) + self.b  # rows: z = W^l a + b^l

    def backward_propagation(self, input_, gradient_wrt_output):
        return gradient_wrt_output.dot(self.W.T)  # rows: (W^l)ᵀ δ^l

    def gradients(self, input_, gradient_wrt_output):  # BP4 and BP3, summed over the rows
        return [input_.T.dot(gradient_wrt_output), gradient_wrt_output.sum(axis=0, keepdims=True)]

    def update_parameters(self, grads, learning_rate):
        self.W, self.b = self.W - learning_rate * grads[0], self.b - learning_rate * grads[1]


class Sigmoid(Layer):
    def forward_propagation(self, input_):
        return 1 / (1 + np.exp(-input_))

    def backward_propagation(self, input_, gradient_wrt_output):
        s = self.forward_propagation(input_)
        return gradient_wrt_output * s * (1 - s)  # ⊙ σ'(z)


class Softmax(Layer):
    def forward_propagation(self, input_):
        e = np.exp(input_ - input_.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def backward_propagation(self, input_, gradient_wrt_output):  # the Jacobian's product, row by row
        a = self.forward_propagation(input_)
        return a * (gradient_wrt_output - (gradient_wrt_output * a).sum(axis=1, keepdims=True))


# %% [markdown]
# The data: scikit-learn's digits, 8×8 → 28×28 by repeating pixels, so that X is (N, 784) like MNIST.

# %%
X_train8, X_test8, y_train, y_test = datasets.digits()
pick = np.arange(28) * 8 // 28  # the source pixel of each of the 28 rows (and columns)


def upsample(X8):
    return X8.reshape(-1, 8, 8)[:, pick][:, :, pick].reshape(-1, 784)


X_train, X_test = upsample(X_train8), upsample(X_test8)
print(X_train.shape, X_test.shape, y_train[:10])
assert X_train.shape == (1348, 784) and X_test.shape == (449, 784)
first = np.searchsorted(pick, np.arange(8))  # where each of the 8 source pixels first appears
assert np.array_equal(X_train.reshape(-1, 28, 28)[:, first][:, :, first].reshape(-1, 64), X_train8)

# %% [markdown]
# A 784-100-10 network: sigmoid hidden layer, softmax output, cross-entropy — `pbp.MLP` and the layer
# list built from the same parameters.

# %%
net = pbp.MLP([784, 100, 10], activation="sigmoid", output_activation="softmax", loss="cross_entropy",
              seed=0, backend=BACKEND)
(W1, W2), (b1, b2) = net.params_numpy()
layers = [Linear(W1.T, b1.T), Sigmoid(), Linear(W2.T, b2.T), Softmax()]


def get_minibatch(k=10):
    return X_train[:k], y_train[:k]


minibatch, targets = get_minibatch()
inputs = [minibatch]  # forward propagate the data
for layer in layers:
    inputs.append(layer.forward_propagation(inputs[-1]))
activations = inputs[-1]
c = -np.log(activations[np.arange(activations.shape[0]), targets]).sum()  # Σ_x C_x (the seed took the mean)

onehot = (np.arange(10) == targets[:, None]).astype(float)
dc = -onehot / activations  # ∂C/∂a^L of −Σ y ln a
grads_wrt_inputs, layer_grads = [dc], [None] * len(layers)
for i in range(len(layers) - 1, -1, -1):  # backward, with the forward pass's weights
    layer_grads[i] = layers[i].gradients(inputs[i], grads_wrt_inputs[-1])
    grads_wrt_inputs.append(layers[i].backward_propagation(inputs[i], grads_wrt_inputs[-1]))

print("cost Σ_x C_x =", c, " portable_bp:", net.cost(minibatch, targets) * len(targets))
assert np.isclose(c, net.cost(minibatch, targets) * len(targets), rtol=1e-12)

# %% [markdown]
# `pbp.trace` shows the same step with its numbers (the 100 × 784 matrices by their corners). The
# layer list's ∂C/∂z at the softmax's input is BP1's δ^L = a^L − y, and its Linear gradients are BP3
# and BP4, transposed:

# %%
t = pbp.trace(net, minibatch, targets, lr=0.5)
t

# %%
delta_L = grads_wrt_inputs[1]  # after Softmax.backward_propagation: ∂C/∂z^2
assert np.allclose(delta_L, activations - onehot, rtol=0, atol=1e-12)  # BP1 with cross-entropy
assert np.allclose(t.layers[1].delta.numpy(), delta_L, rtol=0, atol=1e-12)
assert np.allclose(t.layers[0].delta.numpy(), grads_wrt_inputs[3], rtol=0, atol=1e-12)  # BP2
for l, i in ((0, 0), (1, 2)):
    assert np.allclose(t.layers[l].grad_w.numpy(), layer_grads[i][0].T, rtol=0, atol=1e-12)  # BP4
    assert np.allclose(t.layers[l].grad_b.numpy(), layer_grads[i][1].T, rtol=0, atol=1e-12)  # BP3
for layer, i in ((t.layers[0], 0), (t.layers[1], 2)):  # one SGD step, η/m
    layers[i].update_parameters(layer_grads[i], 0.5 / len(targets))
    assert np.allclose(layer.W_new.numpy(), layers[i].W.T, rtol=0, atol=1e-12)
print("the layer objects and pbp.trace agree: δ, ∂C/∂b, ∂C/∂W and the SGD step, on both layers")

# %% [markdown]
# ## Central differences
# "Loop over each individual parameter, set it to θ − δ, calculate the cost, set it to θ + δ,
# calculate the cost again (then set it to its original value). The gradient for θ is then the
# difference of the two costs divided by 2δ." The network has 79 510 parameters; 60 of them, drawn
# at random from both layers, are checked here (`pbp.gradcheck(net, X, Y)` checks every one, on a
# network small enough for that).

# %%
eps = 1e-7
rng = np.random.default_rng(0)
X5, y5 = X_train[:5], y_train[:5]
params = net.params_numpy()
ana, num = [], []
t5 = pbp.trace(net, X5, y5)
g = [pbp.to_numpy(a) for a in t5.grads_w + t5.grads_b]  # ∂C/∂W1, ∂C/∂W2, ∂C/∂b1, ∂C/∂b2
theta = list(params[0]) + list(params[1])  # W1, W2, b1, b2
for _ in range(60):
    k = rng.integers(0, 4)
    i = tuple(rng.integers(0, n) for n in theta[k].shape)
    costs = []
    for sign in (+1, -1):
        moved = [p.copy() for p in theta]
        moved[k][i] += sign * eps
        other = pbp.MLP.from_params(moved[:2], moved[2:], activation="sigmoid", output_activation="softmax",
                                    loss="cross_entropy", backend=BACKEND)
        costs.append(other.cost(X5, y5) * len(y5))  # Σ_x C_x
    num.append((costs[0] - costs[1]) / (2 * eps))
    ana.append(g[k][i])
ana, num = np.array(ana), np.array(num)
error = np.linalg.norm(num - ana) / (np.linalg.norm(num) + np.linalg.norm(ana))
print(f"relative error on 60 parameters: {error:.1e}")
assert error < 1e-6

small = pbp.MLP([20, 8, 10], activation="sigmoid", output_activation="softmax", loss="cross_entropy", seed=1,
                backend=BACKEND)
full = pbp.gradcheck(small, X_train[:5, ::39][:, :20], y_train[:5], eps=eps)
print(f"pbp.gradcheck, every parameter of a [20, 8, 10] softmax network: {full:.1e}")
assert full < 1e-7

# %% [markdown]
# ## Training the 784-100-10 network
# Mini-batch SGD (network.py's rule, η = 0.5, batches of 10) for 5 epochs. The seed trains nothing,
# so there is no number of its own to match; the cell asserts that the held-out accuracy is high.

# %%
history = net.fit(X_train, y_train, epochs=5, batch_size=10, lr=0.5, seed=0, progress=False)
test_accuracy = net.accuracy(X_test, y_test)
print("training cost per epoch:", [round(c, 4) for c in history["cost"]])
print(f"test accuracy after 5 epochs: {test_accuracy:.1%}")
assert history["cost"][-1] < history["cost"][0] and test_accuracy > 0.9
