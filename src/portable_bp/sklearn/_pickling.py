"""Pickling a fitted estimator: its network as NumPy parameters and optimizer state, with a picklable
name for its device, rebuilt on its backend and device — or, where this machine lacks them, on
another with a warning (:mod:`portable_bp._landing`)."""

from __future__ import annotations

from .. import _landing, optim
from ..mlp import MLP


def _device_token(backend, device):
    """A picklable name for the network's device, from which ``MLP(device=...)`` finds it again."""
    if device is None:
        return None
    if backend == "jax":
        return getattr(device, "platform", None)
    if backend == "cupy":
        return int(getattr(device, "id", device))
    if backend == "torch":
        return str(device)
    return None


def _net_state(net):
    """The network ``net`` as a picklable dict."""
    params, opt, state = net._host_snapshot()  # one consistent set, also while another thread fits it
    return dict(
        params=params, activation=net.activation, output_activation=net.output_activation,
        loss=net.loss, backend=net.backend, dtype=net.dtype_name, kernel=net.kernel,
        device=_device_token(net.backend, net.device),
        optimizer=None if opt is None else opt.config(), optimizer_state=state)


def _net_from_state(saved, dropout):
    """The network again from :func:`_net_state`'s dict; ``dropout`` the estimator's when the network
    was built with it, else None."""
    weights, biases = saved["params"]
    kwargs = dict(activation=saved["activation"], output_activation=saved["output_activation"], loss=saved["loss"],
                  backend=saved["backend"], dtype=saved["dtype"], kernel=saved["kernel"])
    if dropout is not None:
        kwargs["dropout"] = dropout
    # a backend or device this machine lacks (a GPU pickle read on a CPU machine): lands, with a warning
    kwargs["backend"], device = _landing.landing(saved["backend"], saved["device"], what="estimator", stacklevel=4)
    net = MLP.from_params(weights, biases, device=device, **kwargs)
    if saved["optimizer"] is not None:
        opt = optim.from_config(saved["optimizer"])
        to = lambda a: net.xp.asarray(a, dtype=net.dtype, device=net.device)
        step, lr_scale, slots = saved["optimizer_state"]
        fresh = opt.init(net.params)
        net.optimizer = opt
        net.optimizer_state = fresh._replace(step=to(step), lr_scale=to(lr_scale),
                                             slots=tuple(optim.tree_map(to, list(slots))))
    return net
