"""Searches on a real Dask cluster (`LocalCluster` with two worker processes, started here): through
`client.get_executor()` a search gives the trials of `jobs=1`; a worker killed mid-trial (SIGKILL) loses no
trial, whether Dask retries it or gives up on it (then it is logged as lost and a resumed search runs it);
a search whose driver is killed resumes through the cluster; `search --scheduler ADDRESS` runs on it."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from search_objectives import CountingObjective, HangsOnce, kill_when_hanging, quadratic, quadratic_with_pid, read_calls

from tinygrad_bn import search

distributed = pytest.importorskip("distributed", reason="needs dask.distributed (pip install 'dask[distributed]')")
pytestmark = [pytest.mark.skipif(not hasattr(os, "killpg"), reason="kills processes with POSIX signals"),
              pytest.mark.filterwarnings("ignore:Port .* is already in use")]

HERE = Path(__file__).resolve().parent
SPACE = {"x": search.uniform(0.0, 1.0), "n": search.integer(0, 3)}


def key(trials):
    return [(t.trial, t.config, t.value, t.error) for t in trials]


def start_cluster(**config):
    """A LocalCluster with two single-threaded worker processes, and a client on it."""
    import dask

    with dask.config.set(config):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="module")
def client():
    cluster, client = start_cluster()
    yield client
    client.close()
    cluster.close()


def test_a_dask_search_gives_the_trials_of_jobs_1(client, tmp_path):
    workers = set(client.run(os.getpid).values())
    result = search.random_search(quadratic_with_pid, SPACE, n_trials=8, seed=3, log=tmp_path / "dask.jsonl",
                                  executor=client.get_executor(), progress=False)
    serial = search.random_search(quadratic_with_pid, SPACE, n_trials=8, seed=3, jobs=1, progress=False)
    assert key(result.trials) == key(serial.trials)
    assert key([result.best]) == key([serial.best])
    assert {t.history["pid"] for t in result.trials} <= workers and os.getpid() not in workers
    assert sorted(key(search.read_log(tmp_path / "dask.jsonl")[1])) == key(result.trials)


def test_a_search_whose_driver_is_killed_resumes_on_the_cluster(client, tmp_path):
    """The process that runs the search (and writes the log) is SIGKILLed; the resumed search, through the
    same cluster, runs exactly the trials the log lacks."""
    log, calls_before, calls_after = tmp_path / "log.jsonl", tmp_path / "calls1.jsonl", tmp_path / "calls2.jsonl"
    script = (
        "import sys\n"
        "from distributed import Client\n"
        "from search_objectives import CountingObjective\n"
        "from tinygrad_bn import search\n"
        "space = {'x': search.uniform(0.0, 1.0), 'n': search.integer(0, 3)}\n"
        "client = Client(sys.argv[3])\n"
        "search.random_search(CountingObjective(sys.argv[2], delay=0.3), space, n_trials=10, seed=5, log=sys.argv[1],\n"
        "                     executor=client.get_executor(), progress=False)\n"
        "print('finished')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", script, str(log), str(calls_before), client.scheduler.address],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not log.exists() or log.read_text().count('{"trial"') < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the search logged no trials"
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL and b"finished" not in out

    configs = search.sample(SPACE, 10, seed=5)
    _, survived = search.read_log(log)
    done = {t.trial for t in survived}
    assert 2 <= len(done) < 10
    result = search.random_search(CountingObjective(str(calls_after)), SPACE, n_trials=10, seed=5, log=log,
                                  executor=client.get_executor(), progress=False)
    ran_after = [configs.index(c) for c in read_calls(calls_after)]
    assert sorted(ran_after) == sorted(set(range(10)) - done)  # only the missing ones, each once
    assert [t.value for t in result.trials] == [quadratic(c) for c in configs]
    trials = [json.loads(line)["trial"] for line in log.read_text().splitlines()[1:]]
    assert sorted(trials) == list(range(10))


def test_a_killed_worker_loses_no_trial(client, tmp_path):
    """Dask reschedules the trial of a killed worker (allowed-failures is 3 by default): every trial
    finishes, once in the log, with the value of jobs=1."""
    configs = search.sample(SPACE, 6, seed=7)
    marker, calls = tmp_path / "victim.pid", tmp_path / "calls.jsonl"
    objective = HangsOnce(str(calls), str(marker), victim=configs[1]["x"])
    killer = kill_when_hanging(str(marker))
    result = search.random_search(objective, SPACE, n_trials=6, seed=7, log=tmp_path / "log.jsonl",
                                  executor=client.get_executor(), progress=False)
    killer.join()
    killed = int(marker.read_text())
    assert not result.lost and [t.value for t in result.trials] == [quadratic(c) for c in configs]
    assert result.trials[1].history["pid"] != killed  # the retry ran in another process
    assert [configs.index(c) for c in read_calls(calls)].count(1) == 2  # the killed attempt, then the retry
    _, logged = search.read_log(tmp_path / "log.jsonl")
    records = tmp_path.joinpath("log.jsonl").read_text().splitlines()[1:]
    assert len(records) == 6 and sorted(t.trial for t in logged) == list(range(6))


def test_a_trial_the_cluster_gives_up_on_is_logged_as_lost_and_rerun_on_resume(tmp_path):
    """With allowed-failures 0, Dask raises KilledWorker for the killed worker's trials: the search logs them
    as lost (value None, the reason in `error`) instead of crashing or dropping them, finishes the other
    trials, and a resumed search runs only the lost ones."""
    configs = search.sample(SPACE, 6, seed=7)
    marker, calls, log = tmp_path / "victim.pid", tmp_path / "calls.jsonl", tmp_path / "log.jsonl"
    objective = HangsOnce(str(calls), str(marker), victim=configs[1]["x"])
    cluster, client = start_cluster(**{"distributed.scheduler.allowed-failures": 0})
    try:
        killer = kill_when_hanging(str(marker))
        result = search.random_search(objective, SPACE, n_trials=6, seed=7, log=log, executor=client.get_executor(),
                                      progress=False)
        killer.join()
        # the victim is lost, and so is any trial Dask had already queued on the same worker
        lost = {t.trial for t in result.lost}
        assert 1 in lost and len(lost) < 6
        for t in result.trials:
            if t.trial in lost:
                assert t.value is None and "KilledWorker" in t.error and "runs this trial again" in t.error
            else:
                assert t.value == quadratic(configs[t.trial]) and t.error is None
        records = [json.loads(line) for line in log.read_text().splitlines()[1:]]
        assert sorted(r["trial"] for r in records) == list(range(6))  # nothing dropped
        assert {r["trial"] for r in records if r["lost"]} == lost

        before = len(read_calls(calls))
        resumed = search.random_search(objective, SPACE, n_trials=6, seed=7, log=log, executor=client.get_executor(),
                                       progress=False)
    finally:
        client.close()
        cluster.close()
    assert sorted(configs.index(c) for c in read_calls(calls)[before:]) == sorted(lost)  # only the lost ones ran
    assert not resumed.lost and [t.value for t in resumed.trials] == [quadratic(c) for c in configs]
    _, logged = search.read_log(log)
    assert sorted(t.trial for t in logged) == list(range(6)) and not any(t.lost for t in logged)


def test_the_search_command_runs_on_a_dask_scheduler(client, tmp_path, capsys):
    pytest.importorskip("sklearn")
    from tinygrad_bn.cli import main

    options = ["search", "--dataset", "digits", "--max-train", "300", "--trials", "3", "--epochs", "1",
               "--no-progress"]
    assert main([*options, "--log", str(tmp_path / "dask.jsonl"), "--scheduler", client.scheduler.address]) == 0
    assert main([*options, "--log", str(tmp_path / "local.jsonl"), "--jobs", "1"]) == 0
    capsys.readouterr()
    header, on_dask = search.read_log(tmp_path / "dask.jsonl")
    _, local = search.read_log(tmp_path / "local.jsonl")
    on_dask = sorted(on_dask, key=lambda t: t.trial)
    assert header == search.read_log(tmp_path / "local.jsonl")[0]
    assert [t.config for t in on_dask] == [t.config for t in sorted(local, key=lambda t: t.trial)]
    assert [t.value for t in on_dask] == pytest.approx([t.value for t in sorted(local, key=lambda t: t.trial)])
    # an unreachable scheduler is a one-line error, not a traceback
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main([*options, "--log", str(tmp_path / "x.jsonl"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach a Dask scheduler at tcp://127.0.0.1:9" in err
