"""The pick's fastest deployment: the pick and the baseline timed side by side in every runtime the
recipe measures (and the objective's), each speedup against the baseline's own fastest deployment.

A search judged in one runtime may pick a model whose best deployment is elsewhere, and a speedup
against the baseline in the same runtime can be what a runtime swap alone gives. This names where
the pick runs fastest and what it gains there over the baseline's best (``bench --baseline``'s
honest reference).
"""

from __future__ import annotations

from dataclasses import dataclass

from torchslim.artifacts import stored_artifact
from torchslim.config.search import SearchConfig
from torchslim.latency_comparison import load_artifact
from torchslim.measurement.bench import BenchConfig, fastest_rows, measure, paired_ratios
from torchslim.measurement.ratio import SpeedRatio
from torchslim.models import load_model
from torchslim.runtimes import runtime_facts
from torchslim.store import ResultRow


@dataclass(frozen=True)
class FastestDeployment:
    runtime: str
    variant: str
    batch: int
    pick_ms: float
    reference: tuple[str, str]  # the baseline's fastest (runtime, variant)
    speedup: SpeedRatio  # the baseline in its fastest deployment over the pick in this one

    def text(self) -> str:
        name, ref = runtime_facts(self.runtime).label, runtime_facts(self.reference[0]).label
        s = self.speedup
        how = "within noise of" if s.within_noise else "faster than" if s.low > 1 else "slower than"
        return (
            f"deploy with {name} {self.variant}: {self.pick_ms:.3f} ms at batch {self.batch}, {s.text()}: {how} "
            f"the baseline's fastest deployment ({ref} {self.reference[1]})"
        )

    def as_dict(self) -> dict:
        return {
            "runtime": self.runtime,
            "variant": self.variant,
            "batch": self.batch,
            "pick_ms": self.pick_ms,
            "reference": list(self.reference),
            "speedup": self.speedup.as_dict(),
        }


def fastest_deployment(
    rows: dict[str, ResultRow], search: SearchConfig, runtimes: list[str], threads: int | None
) -> FastestDeployment | None:
    """Time ``rows["pick"]`` against ``rows["base"]`` in ``runtimes`` (each installed one) and name the
    pick's fastest; None when nothing could be timed."""
    usable = [r for r in dict.fromkeys(runtimes) if runtime_facts(r).missing() is None]
    if not usable:
        return None
    _, spec = load_model(stored_artifact(rows["base"]).model_path)
    cfg = BenchConfig(
        batch_sizes=[search.batch or 1],
        runtimes=usable,
        threads=threads,
        min_seconds=0.3,
        in_channels=spec.in_channels,
        input_size=spec.image_size,
        num_classes=spec.num_classes,
    )
    base, pick = load_artifact(rows["base"]), load_artifact(rows["pick"])
    reference = fastest_rows(measure(base, cfg, spec=spec))  # a first look: which of the baseline's is fastest
    ratios, medians = paired_ratios({"base": base, "pick": pick}, [("base", "pick")], cfg, reference=reference)
    against = {k: r for (a, _, k), r in ratios.items() if a != "base"}
    if not against:
        return None
    (runtime, variant, batch), best = max(against.items(), key=lambda kv: kv[1].ratio)
    pick_ms = medians[("pick", (runtime, variant, batch))]
    return FastestDeployment(runtime, variant, batch, pick_ms, reference[batch], best)
