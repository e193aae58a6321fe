"""Watching training: the Watcher's records (per-layer histograms of a probe batch, before training, per
epoch, every N steps), that watching changes nothing in training, resuming, the watch.json errors, and the
watch page in a real browser (its slider changes the histograms)."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from tinygrad_bn import nn, optim
from tinygrad_bn.data import DataLoader
from tinygrad_bn.nn import functional as F
from tinygrad_bn.random import manual_seed
from tinygrad_bn.train import fit
from tinygrad_bn.train.watch import WATCH_FILE, WatchDataError, Watcher, load_watch, watched_layers
from tinygrad_bn.viz.watch_page import write_watch_page

rng = np.random.default_rng(0)
X = rng.normal(size=(120, 6)).astype(np.float32)
T = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)


def train(directory=None, epochs=3, every=None, batchnorm=True, dropout=0.2):
    """Train a small MLP (with dropout, so the random generator matters); watch it into `directory`."""
    manual_seed(0)
    model = nn.MLP(6, [8, 8], 3, batchnorm=batchnorm, dropout=dropout, activation="sigmoid")
    loader = DataLoader(X, T, 20, shuffle=True, seed=1)
    callbacks, step_callbacks = [], []
    if directory is not None:
        watcher = Watcher.for_fit(directory, model, F.cross_entropy, loader, every=every)
        callbacks, step_callbacks = [watcher], [watcher.on_step]
    history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), loader, epochs,
                  callbacks=callbacks, step_callbacks=step_callbacks, progress=False)
    return model, history


def test_watching_changes_nothing_in_training(tmp_path):
    plain, history = train()
    watched, watched_history = train(tmp_path, every=2)
    assert watched_history.train_loss == history.train_loss
    for (name, a), (_, b) in zip(plain.state_dict().items(), watched.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_records_before_training_after_each_epoch_and_every_n_steps(tmp_path):
    train(tmp_path, epochs=2, every=4)
    data = load_watch(tmp_path)
    when = [(r["epoch"], r["step"]) for r in data["records"]]
    assert when == [(0, None), (1, 4), (1, None), (2, 4), (2, None)]  # 6 steps an epoch
    assert [(layer["row"], layer["kind"]) for layer in data["layers"]] == [
        (1, "affine"), (1, "batchnorm"), (1, "activation"), (2, "affine"), (2, "batchnorm"), (2, "activation"),
        (3, "affine")]
    assert data["records"][0]["loss"] is None and data["records"][-1]["loss"] > 0
    for record in data["records"]:
        for layer in record["layers"]:
            for what in ("values", "grads"):
                assert sum(layer[what]["hist"]["counts"]) == layer[what]["size"] == 20 * (8 if layer is not
                                                                                           record["layers"][-1] else 3)
    assert json.loads((tmp_path / WATCH_FILE).read_text()) == data


def test_a_record_holds_the_layers_values_and_gradients(tmp_path):
    manual_seed(0)
    model = nn.MLP(6, [8], 3, activation="relu")
    watcher = Watcher(tmp_path, model, F.cross_entropy, (X[:30], T[:30]))
    affine = X[:30] @ model[0].weight.data.T + model[0].bias.data
    first = watcher.data["records"][0]["layers"]
    assert first[0]["values"]["std"] == pytest.approx(float(affine.astype(np.float64).std()))
    assert first[1]["values"]["zeros"] == pytest.approx(float(np.mean(np.maximum(affine, 0) == 0)))
    logits = np.maximum(affine, 0) @ model[2].weight.data.T + model[2].bias.data
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(30), T[:30]] -= 1  # d(mean cross-entropy)/d(logits) = (softmax - onehot) / N
    assert first[2]["grads"]["std"] == pytest.approx(float((p / 30).std()), rel=1e-5)
    assert all(p.grad is None for p in model.parameters())  # the probe's gradients are not left behind


def test_resuming_keeps_earlier_records_and_replaces_later_ones(tmp_path):
    manual_seed(0)
    model = nn.MLP(6, [4], 3)
    watcher = Watcher(tmp_path, model, F.cross_entropy, (X, T))
    for epoch in (1, 2, 3):
        watcher.record(epoch, None, 1.0 / epoch)
    again = Watcher(tmp_path, model, F.cross_entropy, (X, T), resume=True)
    assert [r["epoch"] for r in again.data["records"]] == [0, 1, 2, 3]
    again.record(2, None, 0.25)  # an interrupted run resumed after epoch 1
    assert [(r["epoch"], r["loss"]) for r in load_watch(tmp_path)["records"]] == [(0, None), (1, 1.0), (2, 0.25)]
    fresh = Watcher(tmp_path, model, F.cross_entropy, (X, T))
    assert [r["epoch"] for r in fresh.data["records"]] == [0]


def test_watch_file_errors(tmp_path):
    with pytest.raises(WatchDataError, match="has no watch.json; record one with"):
        load_watch(tmp_path)
    (tmp_path / WATCH_FILE).write_text("{not json")
    with pytest.raises(WatchDataError, match="is not readable JSON"):
        load_watch(tmp_path)
    (tmp_path / WATCH_FILE).write_text('{"format": "other", "records": []}')
    with pytest.raises(WatchDataError, match="not a watch file written by tinygrad_bn"):
        load_watch(tmp_path)
    with pytest.raises(TypeError, match="expected an nn.Sequential"):
        watched_layers(object())
    with pytest.raises(ValueError, match="every must be a positive number"):
        Watcher(tmp_path, nn.MLP(6, [4], 3), F.cross_entropy, (X, T), every=0)


@pytest.mark.skipif("watch" not in inspect.signature(fit).parameters,
                    reason="train.loop.fit has no watch= parameter yet")
def test_fit_watch_records_into_a_folder(tmp_path):
    manual_seed(0)
    model = nn.MLP(6, [8], 3, batchnorm=True)
    loader = DataLoader(X, T, 20, shuffle=True, seed=1)
    fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), loader, 2, progress=False, watch=tmp_path)
    assert [r["epoch"] for r in load_watch(tmp_path)["records"]] == [0, 1, 2]


def test_the_watch_page_slider_changes_the_histograms(tmp_path, open_page, not_blank):
    train(tmp_path, epochs=3, batchnorm=False, dropout=0.0)
    path = write_watch_page(tmp_path)
    assert path == tmp_path / "watch.html"
    page = open_page(path)
    data = load_watch(tmp_path)
    assert page.locator("#layers tbody tr").count() == 3
    assert page.locator("#layers svg.hist").count() == 2 * len(data["layers"])
    assert page.text_content("#record-label").startswith("after epoch 3")
    heights = ("[...document.querySelectorAll('#layers svg.hist rect.bar')]"
               ".map(r => r.getAttribute('height') + '@' + r.getAttribute('x'))")
    last = page.evaluate(heights)
    page.focus("#record")
    page.keyboard.press("Home")
    assert page.text_content("#record-label").startswith("before training")
    first = page.evaluate(heights)
    assert first != last
    std = page.text_content("#layers tbody tr:first-child .std")
    assert std == f"std {float(data['records'][0]['layers'][0]['values']['std']):.3g}".replace("e-0", "e-")
    page.keyboard.press("ArrowRight")
    assert page.text_content("#record-label").startswith("after epoch 1")
    assert not_blank(page.screenshot())
    assert page.errors == []
