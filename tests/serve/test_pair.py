"""Every row of the rollout's state table (mlcycle.serve.canary) on the server's own model
pair, with real packages, and what a restart serves after each state."""

import asyncio
import shutil

import pytest
import torch
from omegaconf import OmegaConf

from mlcycle.models.package import load_package
from mlcycle.serve.canary import IDLE, PROGRESSING, PROMOTED, ROLLED_BACK, Outcome, RolloutConflict
from mlcycle.serve.metrics import ServerMetrics
from mlcycle.serve.pair import ModelPair
from tests.conftest import task_params
from tests.serve.conftest import rewrite_package

STEPS = [10, 50, 100]


@pytest.fixture(scope="module")
def packages(learnt, tmp_path_factory) -> dict[str, str]:
    """The digits package S and two others, C and D, that differ from it in their weights
    only (each its own version, each allowed to ship)."""
    stable = learnt("digits") / "models/package"
    root = tmp_path_factory.mktemp("pair")
    found = {"S": str(stable)}
    for name, scale in (("C", 1.001), ("D", 0.999)):
        shutil.copytree(stable, root / name)
        weights = torch.load(stable / "weights.pt", weights_only=True)
        rewrite_package(root / name, weights={k: v * scale for k, v in weights.items()})
        found[name] = str(root / name)
    return found


@pytest.fixture
def serve(tmp_path):
    cfg = task_params().serve
    return OmegaConf.merge(
        cfg,
        {
            "package_roots": ["/"],
            "canary": {
                "steps": STEPS,
                "interval_requests": 10,
                "min_requests": 5,
                "interval_s": 3600,
                "failure_threshold": 2,
                "max_inconclusive": 2,
                "checks": {"min_mirrored": 1000},  # agreement not judged here
            },
        },
    )


def run(coro):
    return asyncio.run(coro)


class Pairs:
    """Model pairs on one rollout file, as successive server processes would hold them."""

    def __init__(self, serve, path, packages):
        self.serve, self.path, self.packages = serve, path, packages
        self.versions = {name: load_package(p).version for name, p in packages.items()}

    async def new(self) -> ModelPair:
        pair = ModelPair(self.serve, str(self.path), ServerMetrics())
        await pair.start(self.packages["S"])  # what `mlcycle serve --package S` asks for
        return pair

    def name(self, model) -> str | None:
        return (
            None
            if model is None
            else next(k for k, v in self.versions.items() if v == model.version)
        )

    async def restart(self, pair: ModelPair) -> tuple[str, str | None, str, int]:
        """Stop `pair`, start another on its file: (stable, canary, status, weight)."""
        await pair.stop()
        again = await self.new()
        seen = (
            self.name(again.stable),
            self.name(again.canary),
            again.controller.status,
            again.weight,
        )
        await again.stop()
        return seen


@pytest.fixture
def pairs(serve, tmp_path, packages):
    return Pairs(serve, tmp_path / "serving/rollout.json", packages)


def interval(pair: ModelPair, *, failed: bool = False, requests: int = 10) -> None:
    """One analysis interval's canary traffic: answered well, or failing."""
    for _ in range(requests):
        pair.record(Outcome("stable", False, 0.01, "0", 0.9))
        pair.record(Outcome("canary", failed, 0.01, None if failed else "0", 0.9))


async def judged(pair: ModelPair, **traffic) -> None:
    interval(pair, **traffic)
    await pair.analyse()


async def rolled_out(pairs: Pairs, name: str = "C") -> ModelPair:
    pair = await pairs.new()
    await pair.start_canary(pairs.packages[name], force=False)
    return pair


def test_idle_refuses_commands_and_restarts_idle(pairs):
    async def scenario():
        pair = await pairs.new()
        for action in (lambda c: c.promote(), lambda c: c.rollback(), lambda c: c.set_weight(5)):
            with pytest.raises(RolloutConflict, match="no canary"):
                await pair.command(action)
        assert pair.controller.status == IDLE and pair.canary is None
        return await pairs.restart(pair)

    assert run(scenario()) == ("S", None, IDLE, 0)


def test_start_progresses_at_the_first_step_and_a_restart_resumes_it(pairs):
    async def scenario():
        pair = await rolled_out(pairs)
        assert (pair.controller.status, pair.weight, pairs.name(pair.canary)) == (
            PROGRESSING,
            10,
            "C",
        )
        return await pairs.restart(pair)

    assert run(scenario()) == ("S", "C", PROGRESSING, 10)


def test_a_pass_moves_to_the_next_step_and_a_restart_keeps_it(pairs):
    async def scenario():
        pair = await rolled_out(pairs)
        await judged(pair)
        assert pair.weight == 50
        return await pairs.restart(pair)

    assert run(scenario()) == ("S", "C", PROGRESSING, 50)


def test_a_pass_at_the_last_step_promotes_and_a_restart_serves_the_canary(pairs):
    async def scenario():
        pair = await rolled_out(pairs)
        for _ in STEPS:
            await judged(pair)
        assert pair.controller.status == PROMOTED and pairs.name(pair.stable) == "C"
        assert pair.canary is None and pair.weight == 0
        return await pairs.restart(pair)

    assert run(scenario()) == ("C", None, PROMOTED, 0)


def test_failures_up_to_the_threshold_roll_back_and_a_restart_serves_stable(pairs):
    async def scenario():
        pair = await rolled_out(pairs)
        await judged(pair, failed=True)
        assert pair.controller.status == PROGRESSING and pair.weight == 10  # one fail: hold
        await judged(pair, failed=True)
        assert pair.controller.status == ROLLED_BACK and pair.canary is None
        return await pairs.restart(pair)

    assert run(scenario()) == ("S", None, ROLLED_BACK, 0)


def test_inconclusive_intervals_up_to_the_limit_roll_back(pairs, serve):
    serve.canary.interval_s = 0  # every look ends an interval, with no canary traffic

    async def scenario():
        pair = await rolled_out(pairs)
        await pair.analyse()
        assert pair.controller.status == PROGRESSING
        await pair.analyse()
        assert pair.controller.status == ROLLED_BACK
        return await pairs.restart(pair)

    assert run(scenario()) == ("S", None, ROLLED_BACK, 0)


def test_a_weight_by_hand_holds_never_falls_and_survives_a_restart(pairs):
    async def scenario():
        pair = await rolled_out(pairs)
        await pair.command(lambda c: c.set_weight(70))
        await judged(pair)
        assert pair.weight == 100  # the next step above 70, not 50
        await pair.command(lambda c: c.set_weight(30))
        return await pairs.restart(pair)

    assert run(scenario()) == ("S", "C", PROGRESSING, 30)


@pytest.mark.parametrize(
    "action,expected",
    [("promote", ("C", None, PROMOTED, 0)), ("rollback", ("S", None, ROLLED_BACK, 0))],
)
def test_promote_and_rollback_by_hand_and_a_restart_after_them(pairs, action, expected):
    async def scenario():
        pair = await rolled_out(pairs)
        await pair.command(lambda c: getattr(c, action)())
        assert pair.canary is None
        return await pairs.restart(pair)

    assert run(scenario()) == expected


def test_start_while_progressing_is_refused(pairs):
    async def scenario():
        pair = await rolled_out(pairs)
        with pytest.raises(RolloutConflict, match="still rolling out"):
            await pair.start_canary(pairs.packages["D"], force=False)
        assert pairs.name(pair.canary) == "C"
        return await pairs.restart(pair)

    assert run(scenario()) == ("S", "C", PROGRESSING, 10)


def test_after_a_promotion_a_new_canary_rolls_out_beside_the_promoted_model(pairs):
    async def scenario():
        pair = await rolled_out(pairs)
        await pair.command(lambda c: c.promote())
        await pair.start_canary(pairs.packages["D"], force=False)
        seen = await pairs.restart(pair)
        # and rolled back: the promoted model stays stable (not --package's S)
        pair = await pairs.new()
        await pair.command(lambda c: c.rollback())
        return seen, await pairs.restart(pair)

    assert run(scenario()) == (("C", "D", PROGRESSING, 10), ("C", None, ROLLED_BACK, 0))


def test_after_a_rollback_commands_are_refused_and_a_new_canary_may_start(pairs):
    async def scenario():
        pair = await rolled_out(pairs)
        await pair.command(lambda c: c.rollback())
        with pytest.raises(RolloutConflict, match="no canary"):
            await pair.command(lambda c: c.promote())
        await pair.start_canary(pairs.packages["D"], force=False)
        return await pairs.restart(pair)

    assert run(scenario()) == ("S", "D", PROGRESSING, 10)


def test_a_failed_save_keeps_the_decision_in_memory_and_a_restart_finds_the_last_saved(
    pairs, tmp_path
):
    async def scenario():
        pair = await rolled_out(pairs)
        folder = pairs.path.parent
        folder.rename(tmp_path / "moved")
        folder.write_text("not a folder")  # every save of rollout.json fails
        try:
            await judged(pair)
            assert pair.weight == 50 and "cannot save" in pair.controller.save_error
        finally:
            folder.unlink()
            (tmp_path / "moved").rename(folder)
        return await pairs.restart(pair)

    assert run(scenario()) == ("S", "C", PROGRESSING, 10)


def test_two_starts_at_once_give_one_canary_and_one_refusal(pairs):
    """Admin calls are serialised: the second start sees the first's rollout."""

    async def scenario():
        pair = await pairs.new()
        results = await asyncio.gather(
            pair.start_canary(pairs.packages["C"], force=False),
            pair.start_canary(pairs.packages["D"], force=False),
            return_exceptions=True,
        )
        won = [r for r in results if not isinstance(r, Exception)]
        lost = [r for r in results if isinstance(r, Exception)]
        assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], RolloutConflict)
        serving = pairs.name(pair.canary)
        assert serving == pairs.name(won[0])
        assert pair.controller.state["canary"]["version"] == pair.canary.version
        await pair.stop()
        return serving

    assert run(scenario()) in ("C", "D")


@pytest.mark.slow  # servers, a rollout (and dvc + gto): a minute or more
def test_two_servers_sharing_a_rollout_file_have_one_owner(digits_dir, digits_packages):
    """Two replicas given one rollout state file (a shared volume): the first owns it; the
    second serves the stable model the state names and refuses canary commands with a
    409 that points to Argo Rollouts / Flagger, writing nothing."""
    from tests.serve.conftest import serving

    body = {"package": str(digits_packages["good"])}
    with serving(digits_dir) as first:
        assert first.models()["rollout"]["owner"] is True
        assert first.admin("/admin/canary", body).status_code == 200
        state = (digits_dir / "models/serving/rollout.json").read_text()
        with serving(digits_dir) as second:
            models = second.models()
            assert models["rollout"]["owner"] is False and models["canary"] is None
            refused = second.admin("/admin/canary/promote")
            assert refused.status_code == 409 and "Argo Rollouts" in refused.json()["detail"]
            assert second.admin("/admin/canary", body).status_code == 409
        assert (digits_dir / "models/serving/rollout.json").read_text() == state
        assert first.admin("/admin/canary/promote").status_code == 200
