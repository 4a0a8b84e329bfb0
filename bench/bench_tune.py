"""Benchmark `hms-fastai tune`: one study run by one worker vs the same study by two worker processes sharing one SQLite
file, side by side with the registry's default recipe on the same folds (wall time, pruned trials, best CV KL)."""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _cli(*args) -> list[str]:
    return [sys.executable, '-m', 'hms_fastai.cli', *map(str, args)]


def _timed(commands: list[list[str]], env: dict, log: Path) -> float:
    """Start `commands` together (their output to `log`), wait for all; the wall seconds (an error if one fails)."""
    t0 = time.perf_counter()
    with open(log, 'w') as f:
        procs = [subprocess.Popen(c, stdout=f, stderr=subprocess.STDOUT, env=env) for c in commands]
        codes = [p.wait() for p in procs]
    if any(codes): raise SystemExit(f'{commands} failed ({codes}): see {log}')
    return time.perf_counter() - t0


def _study(out: Path) -> dict:
    """A finished study's figures: trials by state, epochs trained, the best trial's scores."""
    import optuna
    study = optuna.load_study(study_name='hms', storage=f'sqlite:///{out / "study.db"}')
    states = [t.state.name for t in study.trials]
    best = study.best_trial
    scores = json.loads((Path(best.user_attrs['folder']) / 'models.json').read_text())['scores']
    return {'trials': len(states), 'complete': states.count('COMPLETE'), 'pruned': states.count('PRUNED'),
            'failed': states.count('FAIL'), 'epochs': sum(len(t.intermediate_values) for t in study.trials),
            'best': f'trial {best.number}: ' + ', '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                                                        for k, v in best.params.items()),
            'kl': scores['kl'], 'kl_expert': scores['kl_expert']}


def main(data: Path, cache: Path, work: Path, space: Path, n_trials: int, timeout: float | None, arch: str):
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    tune = lambda out: _cli('tune', '--data', data, '--cache', cache, '--out', out, '--space', space, '--folds-used', 0,
                            '--n-trials', n_trials, *(['--timeout', timeout] if timeout else []))
    done = work / 'recipe' / 'models.json'
    if not (done.is_file() and json.loads(done.read_text())['complete']):     # a finished recipe run is reused
        _timed([_cli('train', '--data', data, '--cache', cache, '--out', work / 'recipe', '--arch', arch, '--folds-used', 0)],
               env, work / 'recipe.log')
    recipe = json.loads(done.read_text())
    recipe_s = sum(recipe['seconds'].values())
    one_s = _timed([tune(work / 'one')], env, work / 'one.log')
    two_s = _timed([tune(work / 'two')] * 2, env | {'OMP_NUM_THREADS': '1'}, work / 'two.log')   # 2 processes × 1 thread
    one, two = _study(work / 'one'), _study(work / 'two')
    print(f'default recipe (resnet34d_8ch\'s arguments, arch {arch}: {recipe["run"]["epochs"]} + {recipe["run"]["epochs2"]} '
          f'epochs, lr {recipe["run"]["lr"]}, windows {recipe["run"]["windows"]}, targets {recipe["run"].get("targets")}), fold 0: '
          f'KL {recipe["scores"]["kl"]:.4f}, expert {recipe["scores"]["kl_expert"]:.4f}, {recipe_s:.0f} s of training')
    print('| workers | wall | trials (complete / pruned / failed) | epochs trained | epochs/min | best trial | its KL | its KL expert |')
    print('|---|---|---|---|---|---|---|---|')
    for n, s, r in ((1, one_s, one), (2, two_s, two)):
        print(f'| {n} | {s / 60:.1f} min | {r["trials"]} ({r["complete"]} / {r["pruned"]} / {r["failed"]}) | {r["epochs"]} | '
              f'{r["epochs"] / s * 60:.2f} | {r["best"]} | {r["kl"]:.4f} | {r["kl_expert"]:.4f} |')
    print(f'two workers / one: wall {two_s / one_s:.2f}, epochs per minute {two["epochs"] / two_s / (one["epochs"] / one_s):.2f}; '
          f'best KL expert vs the recipe: one worker {one["kl_expert"] - recipe["scores"]["kl_expert"]:+.4f}, '
          f'two {two["kl_expert"] - recipe["scores"]["kl_expert"]:+.4f}')


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--data', type=Path, required=True, help='competition folder (e.g. hms-fastai synth --n-eegs 600 --n-test 150)')
    p.add_argument('--cache', type=Path, required=True, help='its signal store folder')
    p.add_argument('--work', type=Path, required=True, help='a new folder for the recipe run and the two studies')
    p.add_argument('--space', type=Path, default=Path(__file__).with_name('tune_space.toml'), help='the search space')
    p.add_argument('--n-trials', type=int, default=12, help='trials per study')
    p.add_argument('--timeout', type=float, help='seconds after which a study starts no new trial (a busy machine)')
    p.add_argument('--arch', default='resnet18d', help="the recipe's body (the space's [fixed] arch should match it)")
    a = p.parse_args()
    main(a.data, a.cache, a.work, a.space, a.n_trials, a.timeout, a.arch)
