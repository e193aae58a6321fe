"""The download path, against a local HTTP server (Python's http.server on 127.0.0.1, port 0, in a thread).

Routes: /good/<name> serves the file, /missing/<name> is a 404, /truncated/<name> promises more bytes than
it sends and closes the connection.
"""
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

from tinygrad_bn.data import DownloadError, download_files, load_mnist, read_idx, write_idx
from tinygrad_bn.data import datasets as datasets_module
from tinygrad_bn.data.datasets import FILES

pytest.importorskip("pooch")


def idx_gz(array):
    payload = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes() + array.tobytes()
    return gzip.compress(payload, mtime=0)


IMAGES = {"train": np.arange(6 * 5 * 5, dtype=np.uint8).reshape(6, 5, 5),
          "test": (255 - np.arange(3 * 5 * 5)).astype(np.uint8).reshape(3, 5, 5)}
LABELS = {"train": np.array([0, 1, 2, 3, 4, 5], dtype=np.uint8), "test": np.array([9, 8, 7], dtype=np.uint8)}
CONTENT = {FILES[f"{split}_images"]: idx_gz(IMAGES[split]) for split in IMAGES}
CONTENT.update({FILES[f"{split}_labels"]: idx_gz(LABELS[split]) for split in LABELS})
MD5 = {name: hashlib.md5(data).hexdigest() for name, data in CONTENT.items()}
NAME = FILES["train_images"]


class Handler(http.server.BaseHTTPRequestHandler):
    requests: list = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        Handler.requests.append(self.path)
        _, route, name = self.path.split("/", 2)
        body = CONTENT.get(name)
        if route == "missing" or body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if route == "truncated":
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """requests honours proxy variables; the local server must be reached directly."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    Handler.requests.clear()


def test_download_arrives_and_reads(server, tmp_path):
    dest = tmp_path / "dest"
    paths = download_files("mnist", [NAME], dest=dest, mirrors=[f"{server}/good/"], md5=MD5)
    assert paths == [dest / NAME]
    assert paths[0].read_bytes() == CONTENT[NAME]
    np.testing.assert_array_equal(read_idx(paths[0]), IMAGES["train"])
    assert sorted(p.name for p in dest.iterdir()) == [NAME]  # no temporary files left behind
    # the file is there and matches: asking again does not download again
    download_files("mnist", [NAME], dest=dest, mirrors=[f"{server}/good/"], md5=MD5)
    assert Handler.requests == [f"/good/{NAME}"]


def test_bad_checksum_leaves_no_file(server, tmp_path):
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError) as info:
        download_files("mnist", [NAME], dest=dest, mirrors=[f"{server}/good/"], md5={NAME: "0" * 32})
    assert NAME in str(info.value) and f"{server}/good/{NAME}" in str(info.value)
    assert list(dest.iterdir()) == []  # neither the final name nor a partial temporary file


def test_truncated_transfer_leaves_no_file(server, tmp_path):
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError, match="could not download train-images-idx3-ubyte.gz for mnist"):
        download_files("mnist", [NAME], dest=dest, mirrors=[f"{server}/truncated/"], md5=MD5)
    assert list(dest.iterdir()) == []
    assert Handler.requests == [f"/truncated/{NAME}"]
    # detected as a short transfer, not only by the checksum: with the checksum of the half that arrives
    # (so the hash would match), the missing bytes alone still make it fail
    half = hashlib.md5(CONTENT[NAME][: len(CONTENT[NAME]) // 2]).hexdigest()
    with pytest.raises(DownloadError, match="IncompleteRead|Connection broken"):
        download_files("mnist", [NAME], dest=dest, mirrors=[f"{server}/truncated/"], md5={NAME: half})
    assert list(dest.iterdir()) == []


def test_failing_mirror_falls_back_to_the_next(server, tmp_path):
    dest = tmp_path / "dest"
    mirrors = [f"{server}/missing/", f"{server}/truncated", f"{server}/good/"]  # with or without the slash
    paths = download_files("mnist", [NAME, FILES["test_labels"]], dest=dest, mirrors=mirrors, md5=MD5)
    assert [p.name for p in paths] == [NAME, FILES["test_labels"]]
    np.testing.assert_array_equal(read_idx(paths[1]), LABELS["test"])
    assert Handler.requests[:3] == [f"/missing/{NAME}", f"/truncated/{NAME}", f"/good/{NAME}"]


def test_every_mirror_failing_lists_each_error(server, tmp_path):
    mirrors = [f"{server}/missing/", f"{server}/truncated/"]
    with pytest.raises(DownloadError) as info:
        download_files("mnist", [NAME], dest=tmp_path, mirrors=mirrors, md5=MD5)
    message = str(info.value)
    assert f"{server}/missing/{NAME}" in message and "404" in message
    assert f"{server}/truncated/{NAME}" in message
    assert not (tmp_path / NAME).exists()


def test_load_mnist_download_end_to_end(server, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TINYGRAD_BN_DATA", raising=False)
    monkeypatch.setitem(datasets_module.SOURCES, "mnist",
                        {"mirrors": [f"{server}/missing/", f"{server}/good/"], "md5": MD5})
    root = tmp_path / "root"
    root.mkdir()
    write_idx(LABELS["test"], root / FILES["test_labels"])  # a lone file elsewhere: folders are never mixed
    (x, t), (xs, ts) = load_mnist(root=root, download=True, normalize=False, flatten=False)
    np.testing.assert_array_equal(x[:, 0], IMAGES["train"])
    np.testing.assert_array_equal(t, LABELS["train"])
    np.testing.assert_array_equal(xs[:, 0], IMAGES["test"])
    np.testing.assert_array_equal(ts, LABELS["test"])
    fetched = sorted(path.split("/")[-1] for path in Handler.requests if path.startswith("/good/"))
    assert fetched == sorted(FILES.values())  # the cache gets a complete set
    cache = tmp_path / "xdg" / "tinygrad_bn" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == fetched  # downloads go to the per-user cache
    # a second call finds everything locally and asks the server nothing
    Handler.requests.clear()
    load_mnist(root=root, download=True)
    assert Handler.requests == []


def test_load_mnist_download_failure_is_a_download_error(server, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TINYGRAD_BN_DATA", raising=False)
    monkeypatch.setitem(datasets_module.SOURCES, "mnist", {"mirrors": [f"{server}/missing/"], "md5": MD5})
    with pytest.raises(DownloadError, match="404"):
        load_mnist(root=tmp_path, download=True)


def test_unverifiable_or_unknown_requests_are_refused(server, tmp_path):
    with pytest.raises(ValueError, match="no checksum known for extra.gz"):
        download_files("mnist", ["extra.gz"], dest=tmp_path, mirrors=[f"{server}/good/"], md5=MD5)
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'"):
        download_files("kmnist", [NAME], dest=tmp_path, mirrors=[f"{server}/good/"], md5=MD5)
    assert Handler.requests == [] and list(tmp_path.iterdir()) == []


def test_train_command_downloads_with_the_option(server, tmp_path, monkeypatch, capsys):
    """`train --download` fetches the missing files; a failing mirror is one line and exit status 1."""
    from tinygrad_bn.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TINYGRAD_BN_DATA", raising=False)
    monkeypatch.setitem(datasets_module.SOURCES, "mnist", {"mirrors": [f"{server}/missing/"], "md5": MD5})
    options = ["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "none"), "--hidden", "4", "--epochs",
               "1", "--out", str(tmp_path / "out"), "--no-progress"]
    assert main([*options, "--download"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not download" in err and "404" in err
    monkeypatch.setitem(datasets_module.SOURCES, "mnist", {"mirrors": [f"{server}/good/"], "md5": MD5})
    with pytest.raises(SystemExit) as info:  # without --download, nothing is fetched
        main(options)
    assert info.value.code == 2 and Handler.requests == [f"/missing/{NAME}"]
    assert "--download" in capsys.readouterr().err
    assert main([*options, "--download"]) == 0
    assert "mnist: 6 training and 3 test examples; model [25, 4, 10]" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "xdg" / "tinygrad_bn" / "mnist").iterdir()) == sorted(FILES.values())
