"""The privacy budget of DP-SGD, from Google's dp-accounting package.

One training step of DP-SGD is a sampled Gaussian mechanism: each training image is in the
batch with probability q = batch / images, its gradient clipped to norm C, and Gaussian noise of
standard deviation sigma * C added to the sum. `steps` such steps compose; the accountant turns
that into (epsilon, delta)-differential privacy, with PLD (privacy loss distributions, the
tightest) or RDP (Renyi DP, the figure most papers report).

The accounting assumes Poisson sampling; training draws shuffled batches of fixed size, as
nearly every DP-SGD implementation does, so the epsilon is the usual approximation of what
shuffling gives, not a proof of it. Every figure says so (`SAMPLING_NOTE`).
"""

from __future__ import annotations

from dataclasses import dataclass

from visionflow.errors import ConfigError

ACCOUNTANTS = ("pld", "rdp")
SAMPLING_NOTE = ("accounted as Poisson sampling at rate batch/images; training draws shuffled batches of fixed "
                 "size, the usual approximation")
PLD_GRID = 1e-3


def _event(q: float, noise_multiplier: float, steps: int):
    import dp_accounting as dpa

    return dpa.SelfComposedDpEvent(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(noise_multiplier)), steps)


def _accountant(kind: str, orders: list[float] | None = None):
    from dp_accounting import pld, rdp

    if kind not in ACCOUNTANTS:
        raise ConfigError(f"Unknown privacy accountant {kind!r}; choose pld or rdp.")
    if kind == "rdp":
        return rdp.RdpAccountant(orders) if orders else rdp.RdpAccountant()
    # a 1e-3 grid (the library's default is 1e-4) solved the same noise multiplier to 6 digits, 9x faster;
    # the pessimistic estimate keeps every epsilon an upper bound
    return pld.PLDAccountant(value_discretization_interval=PLD_GRID)


def epsilon(q: float, noise_multiplier: float, steps: int, delta: float, kind: str = "pld",
            orders: list[float] | None = None) -> float:
    """Epsilon after `steps` DP-SGD steps at sampling rate `q` and noise multiplier `noise_multiplier`
    (0 steps: 0). `orders`: the RDP orders to search (RDP only; unset: dp-accounting's default set)."""
    if steps <= 0:
        return 0.0
    acc = _accountant(kind, orders)
    acc.compose(_event(q, noise_multiplier, steps))
    return float(acc.get_epsilon(delta))


def noise_multiplier(q: float, steps: int, target_epsilon: float, delta: float, kind: str = "pld") -> float:
    """The smallest noise multiplier whose `steps` steps at rate `q` spend at most `target_epsilon`."""
    import dp_accounting as dpa

    if target_epsilon <= 0:
        raise ConfigError(f"target_epsilon must be positive. Received: target_epsilon={target_epsilon}")
    try:
        return float(dpa.calibrate_dp_mechanism(lambda: _accountant(kind), lambda s: _event(q, s, steps),
                                                target_epsilon, delta,
                                                dpa.LowerEndpointAndGuess(0.1, 1.0), tol=1e-3))
    except (ValueError, RuntimeError):  # no noise in range reaches the target
        raise ConfigError(f"No noise level reaches epsilon {target_epsilon:g} with {steps} steps at sampling rate "
                          f"{q:.3g} and delta {delta:.2g}; raise --target-epsilon or train fewer epochs.") from None


def auto_delta(images: int) -> float:
    """delta for `images` training images: 1 / (10 * images), one tenth of the largest delta that
    still means something (a mechanism with delta = 1/n may publish one image outright)."""
    return 1.0 / (10 * max(1, images))


@dataclass(frozen=True)
class Budget:
    """The privacy settings of one DP-SGD run, solved before training starts."""

    target_epsilon: float
    delta: float
    clip: float
    noise_multiplier: float
    batch_size: int
    images: int
    planned_steps: int
    steps_per_epoch: int
    accountant: str

    @property
    def q(self) -> float:
        return min(1.0, self.batch_size / self.images)

    def spent(self, steps: int) -> float:
        return epsilon(self.q, self.noise_multiplier, steps, self.delta, self.accountant)

    def to_dict(self) -> dict:
        return {"target_epsilon": self.target_epsilon, "delta": self.delta, "clip": self.clip,
                "noise_multiplier": round(self.noise_multiplier, 5), "batch_size": self.batch_size,
                "images": self.images, "sampling_rate": round(self.q, 6), "planned_steps": self.planned_steps,
                "steps_per_epoch": self.steps_per_epoch, "accountant": self.accountant, "sampling": SAMPLING_NOTE}

    @classmethod
    def from_dict(cls, d: dict) -> "Budget":
        return cls(d["target_epsilon"], d["delta"], d["clip"], d["noise_multiplier"], d["batch_size"], d["images"],
                   d["planned_steps"], d["steps_per_epoch"], d["accountant"])


def plan(target_epsilon: float, delta: float | None, clip: float, batch_size: int, images: int, epochs: int,
         kind: str = "pld") -> Budget:
    """The Budget of a run: the noise multiplier that spends `target_epsilon` over `epochs` epochs."""
    if batch_size > images:
        raise ConfigError(f"--batch-size {batch_size} is larger than the {images} training images; DP-SGD samples "
                          f"batches from them, so use a smaller batch.")
    steps_per_epoch = -(-images // batch_size)
    steps = steps_per_epoch * epochs
    delta = auto_delta(images) if delta is None else delta
    sigma = noise_multiplier(min(1.0, batch_size / images), steps, target_epsilon, delta, kind)
    return Budget(target_epsilon, delta, clip, sigma, batch_size, images, steps, steps_per_epoch, kind)
